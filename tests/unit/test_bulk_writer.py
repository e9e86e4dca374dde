"""AcknowledgedDocumentWriter without a server: checked settings, round-trip through YAML/dicts, and the plain
DocumentWriter behaviour for stores that are not Elasticsearch (its Elasticsearch path runs against real nodes in
tests/integration/test_elasticsearch_bulk.py)."""

import pytest
from haystack import Document, Pipeline
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy

from haystack_integrations.components.writers.spanbert import AcknowledgedDocumentWriter, BulkWriteError
from haystack_integrations.components.writers.spanbert.bulk import RefusedDocument


@pytest.mark.parametrize("field, value", [("max_retries", -1), ("max_retries", 1.5), ("initial_backoff", float("nan")),
                                          ("max_backoff", float("inf")), ("max_chunk_bytes", 10),
                                          ("initial_backoff", True)])
def test_bad_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        AcknowledgedDocumentWriter(InMemoryDocumentStore(), **{field: value})


def test_other_stores_are_written_as_document_writer_writes_them():
    store = InMemoryDocumentStore()
    writer = AcknowledgedDocumentWriter(store, policy=DuplicatePolicy.SKIP)
    documents = [Document(content="a"), Document(content="b")]
    assert writer.run(documents)["documents_written"] == 2
    assert writer.run(documents)["documents_written"] == 0  # skipped: already there
    assert store.count_documents() == 2


def test_it_round_trips_through_a_pipeline_dict():
    pipeline = Pipeline()
    writer = AcknowledgedDocumentWriter(InMemoryDocumentStore(), policy=DuplicatePolicy.OVERWRITE, max_retries=2,
                                        initial_backoff=0.5)
    pipeline.add_component("writer", writer)
    again = Pipeline.from_dict(pipeline.to_dict()).get_component("writer")
    assert (again.policy, again.max_retries, again.initial_backoff) == (DuplicatePolicy.OVERWRITE, 2, 0.5)
    assert isinstance(again.document_store, InMemoryDocumentStore)


def test_the_error_counts_what_was_written_and_groups_the_reasons():
    error = BulkWriteError(7, [RefusedDocument("1", "a.jsonl:3", 400, "document_parsing_exception", "bad year"),
                               RefusedDocument("2", "a.jsonl:9", 429, "es_rejected_execution_exception", "busy"),
                               RefusedDocument("3", "b.txt", 400, "document_parsing_exception", "bad year")])
    text = str(error)
    assert text.startswith("3 passage(s) were not written (document_parsing_exception x2; "
                           "es_rejected_execution_exception x1); 7 were.")
    assert "a.jsonl:3: bad year" in text
