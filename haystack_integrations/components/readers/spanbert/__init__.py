"""SpanBERT extractive reader for Haystack (the component lives here so YAML pipelines load it without
allowlisting; ``spanbert_reader.SpanBERTReader`` is the same class)."""

from haystack_integrations.components.readers.spanbert.reader import SpanBERTReader

__all__ = ["SpanBERTReader"]
