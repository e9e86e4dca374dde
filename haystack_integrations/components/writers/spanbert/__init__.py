"""Writers shipped with spanbert-reader (in the haystack_integrations namespace so YAMLs load them)."""

from haystack_integrations.components.writers.spanbert.bulk import AcknowledgedDocumentWriter, BulkWriteError

__all__ = ["AcknowledgedDocumentWriter", "BulkWriteError"]
