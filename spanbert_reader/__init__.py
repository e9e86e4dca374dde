"""spanbert-reader: SpanBERT extractive question answering for Haystack."""

from spanbert_reader.version import __version__

__all__ = ["SpanBERTReader", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import spanbert_reader.modeling` never pulls in Haystack.
    if name == "SpanBERTReader":
        from spanbert_reader.component import SpanBERTReader

        return SpanBERTReader
    raise AttributeError(f"module 'spanbert_reader' has no attribute {name!r}")
