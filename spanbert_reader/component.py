"""The Haystack component. Defined under ``haystack_integrations.components.readers.spanbert`` so that
pipeline YAMLs naming it load with a plain ``Pipeline.loads`` (Haystack's import allowlist trusts
``haystack_integrations``); this module re-exports it."""

from haystack_integrations.components.readers.spanbert.reader import (
    DEFAULT_MODEL,
    SpanBERTReader,
    read_null_threshold,
    write_null_threshold,
)

__all__ = ["DEFAULT_MODEL", "SpanBERTReader", "read_null_threshold", "write_null_threshold"]
