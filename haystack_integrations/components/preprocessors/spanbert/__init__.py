"""Preprocessors of spanbert-reader for Haystack pipelines."""

from haystack_integrations.components.preprocessors.spanbert.passages import PassageSplitter

__all__ = ["PassageSplitter"]
