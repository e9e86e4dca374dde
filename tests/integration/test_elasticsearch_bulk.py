"""What Elasticsearch acknowledges is what we count: partial bulk failures, 429 back-off, requests larger than
``http.max_content_length``, and a 2-node cluster losing a node mid-way. All against real embedded nodes (the
jars of tests/elasticsearch_node in their own JVMs); CI runs every one."""

import json
import logging
import os
import subprocess
import uuid
from pathlib import Path

import es_scenarios
import pytest
from conftest import embedded_elasticsearch

pytestmark = pytest.mark.slow

LIMITED = {"http.max_content_length": "1mb", "thread_pool.write.size": "1", "thread_pool.write.queue_size": "1"}


def _index(url: str, index: str, *paths: Path, verbose: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    return subprocess.run([*es_scenarios.cli(), *(["-v"] if verbose else []), "index", *map(str, paths), "--store",
                           "elasticsearch", "--es-url", url, "--index", index, "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=600)


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    errors = [line for line in result.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def _store(url: str, index: str):
    from haystack_integrations.document_stores.elasticsearch import ElasticsearchDocumentStore

    return ElasticsearchDocumentStore(hosts=url, index=index)


@pytest.fixture(scope="module")
def limited_url():
    """A node that accepts bulk requests of at most 1 MB and runs one write at a time with a queue of one."""
    import es_node

    node = embedded_elasticsearch(lambda: es_node.start(settings=LIMITED))
    yield node.url
    node.stop()


def test_a_mapping_conflict_is_reported_per_passage_and_the_rest_is_written(elasticsearch_url, tmp_path):
    index = f"spanbert-bulk-{uuid.uuid4().hex[:8]}"
    client = es_scenarios.create_index(elasticsearch_url, index, extra_properties={"year": {"type": "long"}})
    records = tmp_path / "records.jsonl"
    rows = [{"text": f"Record {i} tells of the river number {i}.", "year": 1900 + i} for i in range(10)]
    rows[2]["year"] = "the year the river moved"  # line 3: refused by the long mapping
    rows[6]["year"] = "unknown"  # line 7
    records.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    try:
        result = _index(elasticsearch_url, index, records)
        line = _error_line(result)
        assert "acknowledged 8 of 10 passage(s); 2 were refused" in line and "document_parsing_exception x2" in line
        assert "records.jsonl:3: document_parsing_exception (HTTP 400)" in result.stderr
        assert "records.jsonl:7: document_parsing_exception" in result.stderr and "[year]" in result.stderr
        assert "Indexed" not in result.stdout  # never "indexed N passages" when fewer were written
        client.indices.refresh(index=index)
        assert client.count(index=index)["count"] == 8
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)


def test_a_bulk_request_larger_than_http_max_content_length_is_split_and_a_giant_passage_is_named(limited_url,
                                                                                                tmp_path):
    index = f"spanbert-bulk-{uuid.uuid4().hex[:8]}"
    client = es_scenarios.create_index(limited_url, index)
    records = tmp_path / "many.jsonl"  # 3000 passages of ~2 KB: a batch of 500 is over the server's 1 MB limit
    records.write_text("\n".join(json.dumps({"text": f"Passage {i}: " + " ".join(f"lexicon{i:05d}entry{j:05d}"
                                                                                for j in range(100))})
                                 for i in range(3000)) + "\n")
    giant = tmp_path / "giant.txt"
    giant.write_text("x" * 1_500_000)  # one word, one passage, alone larger than the limit
    try:
        result = _index(limited_url, index, records, verbose=True)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "splitting it in two" in result.stderr  # the server refused a request as too large (413)
        assert "into 3000 passage(s)" in result.stdout
        client.indices.refresh(index=index)
        assert client.count(index=index)["count"] == 3000
        refused = _index(limited_url, index, giant)
        assert "1 were refused" in _error_line(refused)
        assert "giant.txt: " in refused.stderr and "larger than the server's http.max_content_length" in refused.stderr
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)


def test_429_rejections_are_retried_with_back_off_and_counted_when_they_persist(limited_url, caplog):
    from haystack import Document
    from haystack.document_stores.types import DuplicatePolicy

    from haystack_integrations.components.writers.spanbert import AcknowledgedDocumentWriter, BulkWriteError

    index = f"spanbert-bulk-{uuid.uuid4().hex[:8]}"
    client = es_scenarios.create_index(limited_url, index, shards=12)  # a bulk fans out to 12 writes; the queue is 1
    documents = [Document(content=f"Passage {i} about the item {i}.", meta={"file_path": "items.txt"})
                 for i in range(1200)]
    try:
        store = _store(limited_url, index)
        stubborn = AcknowledgedDocumentWriter(store, policy=DuplicatePolicy.OVERWRITE, max_retries=0)
        with pytest.raises(BulkWriteError) as refused:
            stubborn.run(documents)
        assert refused.value.refused and all(r.status == 429 for r in refused.value.refused)
        assert refused.value.written + len(refused.value.refused) == len(documents)
        assert "es_rejected_execution_exception" in str(refused.value)
        patient = AcknowledgedDocumentWriter(store, policy=DuplicatePolicy.OVERWRITE, max_retries=30,
                                             initial_backoff=0.05, max_backoff=0.5)
        with caplog.at_level(logging.WARNING):
            assert patient.run(documents)["documents_written"] == len(documents)
        assert any("429 Too Many Requests" in r.getMessage() for r in caplog.records)
        client.indices.refresh(index=index)
        assert client.count(index=index)["count"] == len(documents)
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture()
def cluster():
    """A fresh 2-node cluster (first node master + data, second data only) for one test."""
    import es_node

    nodes = embedded_elasticsearch(es_node.start_cluster)
    yield nodes
    for node in nodes:
        node.stop()


def test_a_two_node_cluster_losing_a_node_mid_stream_answers_every_question(cluster, demo_model, tmp_path):
    result = es_scenarios.questions_through_failover(cluster, demo_model, tmp_path / "rivers")
    errors = [o for o in result["outcomes"] if o["kind"] == "error"]
    print(f"\n2-node cluster, data node killed before question 11 of {result['asked']}: {result['answered']} "
          f"answered ({result['right']} with the river's passage first), {result['errors']} errors, slowest after "
          f"the kill {result['slowest_after_kill']:.2f} s")
    assert len(result["outcomes"]) == result["asked"]  # none lost
    assert all(o["detail"] for o in errors)  # an error says what happened
    assert result["right"] == result["answered"]  # no silently partial search: the river's passage came first
    assert result["answered"] >= result["asked"] - 2, result["outcomes"]


def test_a_two_node_cluster_losing_a_node_mid_indexing_keeps_every_acknowledged_passage(cluster, tmp_path):
    result = es_scenarios.indexing_through_failover(cluster, tmp_path / "stream")
    print(f"\n2-node cluster, data node killed mid-indexing: exit {result['returncode']}, {result['acknowledged']} "
          f"of {result['files']} passages acknowledged, {result['stored']} found afterwards")
    assert result["killed_mid_run"], "indexing finished before the node could be stopped: make the stream longer"
    if result["returncode"] != 0:
        _error_line(subprocess.CompletedProcess([], result["returncode"], result["stdout"], result["stderr"]))
    assert result["acknowledged"] is not None, result["stderr"][-2000:]
    assert result["stored"] == result["acknowledged"]  # every acknowledged passage is there, none counted unwritten
    assert result["distinct_files"] == result["stored"]
