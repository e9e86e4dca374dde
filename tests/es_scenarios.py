"""The 2-node failover scenarios, shared by tests/integration/test_elasticsearch_bulk.py (which asserts on them)
and benchmarks/es_failover.py (which records their figures): a stream of questions, and an indexing run, during
which the cluster's data-only node is killed (SIGKILL, as a crashed machine leaves)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

RIVERS = [(f"Riv{n:02d}", f"Town{n:02d}", 50 + 7 * n) for n in range(40)]
ENV = {"HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}


def cli() -> list[str]:
    """The ``spanbert-qa`` command of this interpreter."""
    exe = Path(sys.executable).with_name("spanbert-qa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]


def create_index(url: str, index: str, shards: int = 1, replicas: int = 0, extra_properties: dict | None = None):
    """Create ``index`` with the Haystack store's own mapping (plus ``extra_properties``) and the given shards;
    returns a client."""
    from elasticsearch import Elasticsearch
    from haystack_integrations.document_stores.elasticsearch import ElasticsearchDocumentStore

    mappings = json.loads(json.dumps(ElasticsearchDocumentStore(hosts=url, index=index)._default_mappings))
    mappings.setdefault("properties", {}).update(extra_properties or {})
    client = Elasticsearch(url, request_timeout=90)
    client.indices.create(index=index, mappings=mappings,
                          settings={"number_of_shards": shards, "number_of_replicas": replicas})
    client.cluster.health(index=index, wait_for_status="green", timeout="60s")
    return client


def kill(node) -> None:
    """Kill a node's JVM without warning."""
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=30)


def questions_through_failover(nodes, demo_model: Path, folder: Path, kill_before: int = 10) -> dict:
    """Index one passage per river, ask one question per river through the first node, kill the second node
    before question ``kill_before``; every outcome (answered with the passages retrieved, or the error) is kept."""
    from spanbert_reader.app.qa import build_qa_pipeline, find_answers, question_inputs
    from spanbert_reader.app.settings import AppSettings

    first, second = nodes
    index = "rivers"
    create_index(first.url, index, shards=2, replicas=1)
    folder.mkdir(parents=True, exist_ok=True)
    for river, town, length in RIVERS:
        (folder / f"{river}.txt").write_text(f"The {river} is a river {length} kilometres long. Its source is near "
                                             f"the town of {town}.")
    indexed = subprocess.run([*cli(), "index", str(folder), "--store", "elasticsearch", "--es-url", first.url,
                              "--index", index, "--no-progress"], env={**os.environ, **ENV}, capture_output=True,
                             text=True, timeout=600)
    if indexed.returncode != 0:
        raise RuntimeError(indexed.stderr[-2000:])
    settings = AppSettings(store="elasticsearch", es_url=first.url, index=index, model=str(demo_model))
    pipeline = build_qa_pipeline(settings).pipeline
    outcomes = []
    for number, (river, town, _) in enumerate(RIVERS):
        if number == kill_before:
            kill(second)
        started = time.monotonic()
        try:
            result = pipeline.run(question_inputs(pipeline, f"Near which town is the source of the {river}?",
                                                  top_k=1, retriever_top_k=3), include_outputs_from={"retriever"})
            find_answers(result)  # the reader answered (or abstained, which is an answer too)
            passages = result["retriever"]["documents"]
            first_passage = passages[0].content if passages else ""
            outcomes.append({"number": number, "kind": "answered", "right": town in first_passage,
                             "detail": first_passage, "seconds": time.monotonic() - started})
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none may pass in silence
            outcomes.append({"number": number, "kind": "error", "right": False,
                             "detail": f"{type(exc).__name__}: {exc}".splitlines()[0],
                             "seconds": time.monotonic() - started})
    after = [o["seconds"] for o in outcomes if o["number"] >= kill_before]
    return {"outcomes": outcomes, "asked": len(RIVERS),
            "answered": sum(o["kind"] == "answered" for o in outcomes),
            "right": sum(o["right"] for o in outcomes), "errors": sum(o["kind"] == "error" for o in outcomes),
            "slowest_after_kill": max(after), "first_after_kill": after[0]}


def indexing_through_failover(nodes, folder: Path, files: int = 400, kill_after: int = 50) -> dict:
    """Index ``files`` one-passage files through the first node with ``spanbert-qa index``, killing the second
    node once ``kill_after`` passages are searchable; then what the command said against what the index holds."""
    from elasticsearch import Elasticsearch

    first, second = nodes
    index = "stream"
    client = create_index(first.url, index, shards=2, replicas=1)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        (folder / f"doc{n:04d}.txt").write_text(f"Document {n} describes item {n * 7919 % 10007} in some detail.")
    started = time.monotonic()
    process = subprocess.Popen([*cli(), "index", str(folder), "--store", "elasticsearch", "--es-url", first.url,
                                "--index", index, "--no-progress"], env={**os.environ, **ENV},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        client.indices.refresh(index=index)
        seen = client.count(index=index)["count"]
        if seen >= kill_after:
            break
        time.sleep(0.05)
    killed = process.poll() is None
    if killed:
        kill(second)
    out, err = process.communicate(timeout=600)
    seconds = time.monotonic() - started
    check = Elasticsearch(first.url, request_timeout=90)
    check.cluster.health(index=index, wait_for_nodes="1", wait_for_status="yellow", timeout="60s")
    check.indices.refresh(index=index)
    stored = check.count(index=index)["count"]
    files_found = {hit["_source"]["file_path"] for hit in check.search(
        index=index, size=files, query={"match_all": {}}, source=["file_path"])["hits"]["hits"]}
    if process.returncode == 0:
        match = re.search(r"into (\d+) passage", out)
    else:
        match = re.search(r"acknowledged (\d+) of", err)
    return {"killed_mid_run": killed, "searchable_at_kill": seen, "returncode": process.returncode,
            "stdout": out, "stderr": err, "acknowledged": int(match.group(1)) if match else None,
            "stored": stored, "distinct_files": len(files_found), "files": files, "seconds": seconds}
