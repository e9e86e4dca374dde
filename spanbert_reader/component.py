"""The Haystack component. Defined under ``haystack_integrations.components.readers.spanbert`` so that
pipeline YAMLs naming it load with a plain ``Pipeline.loads`` (Haystack's import allowlist trusts
``haystack_integrations``); this module re-exports it with the files it reads beside a checkpoint."""

from haystack_integrations.components.readers.spanbert.reader import DEFAULT_MODEL, SpanBERTReader
from spanbert_reader.inference.side_files import read_null_threshold, write_fusion, write_null_threshold

__all__ = ["DEFAULT_MODEL", "SpanBERTReader", "read_null_threshold", "write_fusion", "write_null_threshold"]
