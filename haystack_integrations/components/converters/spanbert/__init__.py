"""Converters shipped with spanbert-reader (in the haystack_integrations namespace so YAMLs load them)."""

from haystack_integrations.components.converters.spanbert.records import QARecordsToDocument

__all__ = ["QARecordsToDocument"]
