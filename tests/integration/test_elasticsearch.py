"""Every Elasticsearch path end to end against a real node: ``$ELASTICSEARCH_URL``, or the embedded single-node
Elasticsearch 8.19 that the ``elasticsearch_url`` fixture builds from Maven Central jars and starts (see
tests/elasticsearch_node). Each test works on its own index, deleted afterwards. Never a mock or an emulator."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from spanbert_reader.cli import main

pytestmark = pytest.mark.slow  # a JVM node and real models; CI runs them


@pytest.fixture()
def es(elasticsearch_url):
    """(url, index name, client); the index is deleted afterwards."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url, request_timeout=30)
    name = f"spanbert-test-{uuid.uuid4().hex[:10]}"
    yield elasticsearch_url, name, client
    client.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "etna.txt").write_text("Mount Etna is an active stratovolcano on the east coast of Sicily.")
    (folder / "aletsch.md").write_text("# Glaciers\n\nThe Aletsch Glacier is the largest glacier in the Alps.")
    (folder / "pharos.txt").write_text("The lighthouse of Alexandria was built on the island of Pharos.")
    return folder


def _store(url, index):
    return ["--store", "elasticsearch", "--es-url", url, "--index", index]


def _ask(capsys, *args):
    assert main(["ask", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _spans(payload):
    return [a for a in payload["answers"] if not a.get("no_answer")]


def test_server_is_the_real_elasticsearch(es):
    _, _, client = es
    info = client.info()
    assert info["version"]["number"].startswith("8.") and info["cluster_uuid"] not in ("", "_na_")
    assert client.cluster.health()["status"] in ("green", "yellow")


def test_bm25_index_and_ask(corpus, es, tiny_qa, capsys, monkeypatch):
    url, index, client = es
    monkeypatch.setenv("SPANBERT_MODEL", str(tiny_qa))
    assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    assert "into 3 passage(s)" in capsys.readouterr().out
    assert client.count(index=index)["count"] == 3
    payload = _ask(capsys, "Where is Mount Etna?", *_store(url, index), "--retriever-top-k", "1")
    spans = _spans(payload)
    assert spans and all(a["source"].endswith("etna.txt") for a in spans)


def test_reindexing_the_same_files_adds_no_duplicates(corpus, es, capsys):
    url, index, client = es
    for _ in range(2):
        assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    capsys.readouterr()
    assert client.count(index=index)["count"] == 3


def test_hybrid_indexing_and_hybrid_qa_with_real_embeddings(corpus, es, tiny_qa, capsys, monkeypatch):
    from helpers import minilm_path

    url, index, client = es
    monkeypatch.setenv("SPANBERT_MODEL", str(tiny_qa))
    embed = ["--embedding-model", str(minilm_path())]
    assert main(["index", str(corpus), *_store(url, index), "--embed", "--no-progress", *embed]) == 0
    capsys.readouterr()
    hit = client.search(index=index, size=1, query={"match_all": {}})["hits"]["hits"][0]["_source"]
    assert len(hit["embedding"]) == 384  # all-MiniLM-L6-v2 vectors stored as dense_vector
    payload = _ask(capsys, "Which glacier is the largest in the Alps?", *_store(url, index),
                   "--pipeline", "elasticsearch_hybrid_qa", "--retriever-top-k", "1", *embed)
    spans = _spans(payload)
    assert spans and all("aletsch.md (Glaciers)" in a["source"] for a in spans)


def test_console_script_index_then_ask_gives_the_right_answer_and_offsets(corpus, es, demo_model, tmp_path):
    url, index, _ = es
    exe = Path(sys.executable).with_name("spanbert-qa")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    env = {**os.environ, "SPANBERT_MODEL": str(demo_model)}
    done = subprocess.run([*command, "index", str(corpus), *_store(url, index), "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    asked = subprocess.run([*command, "ask", "Where is Mount Etna?", *_store(url, index), "--json"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert asked.returncode == 0, asked.stderr
    best = _spans(json.loads(asked.stdout))[0]
    assert "Sicily" in best["answer"] and best["source"].endswith("etna.txt")
    text = (corpus / "etna.txt").read_text()
    assert text[best["start"]:best["end"]] == best["answer"]


def test_unicode_and_very_long_passages(es, demo_model, tmp_path, capsys, monkeypatch):
    url, index, client = es
    monkeypatch.setenv("SPANBERT_MODEL", str(demo_model))
    folder = tmp_path / "docs"
    folder.mkdir()
    unicode_text = "Der Zürichsee liegt in der Schweiz. 東京 is the capital of Japan; its mayor lives in Shinjuku."
    (folder / "unicode.txt").write_text(unicode_text, encoding="utf-8")
    long_text = " ".join(f"Sentence {i} talks about nothing in particular." for i in range(4000))
    (folder / "long.txt").write_text(long_text + " The hidden treasure is buried under the old oak tree.")
    assert main(["index", str(folder), *_store(url, index), "--no-progress"]) == 0
    capsys.readouterr()
    count = client.count(index=index)["count"]
    assert count > 100  # the 28,000-word file was split into many passages
    payload = _ask(capsys, "Where is the hidden treasure buried?", *_store(url, index))
    best = _spans(payload)[0]
    assert "oak tree" in best["answer"] and best["source"].endswith("long.txt")
    payload = _ask(capsys, "Where does the mayor live?", *_store(url, index))
    best = next(a for a in _spans(payload) if a["source"].endswith("unicode.txt"))
    assert unicode_text[best["start"]:best["end"]] == best["answer"]


def test_thousands_of_passages_are_counted_exactly(es, tmp_path, capsys):
    url, index, client = es
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps({"text": f"Passage number {i} is about item {i * 7919 % 10007}."})
                                 for i in range(3000)))
    assert main(["index", str(records), *_store(url, index), "--no-progress"]) == 0
    assert "into 3000 passage(s)" in capsys.readouterr().out
    assert client.count(index=index)["count"] == 3000


RIVERS = [("Amaro", "Velden", 412), ("Brisk", "Tolmin", 87), ("Cardel", "Ostrava", 233), ("Dunmore", "Kesh", 59),
          ("Elvane", "Parro", 305), ("Fiskar", "Luleborg", 140), ("Garrow", "Mintz", 76), ("Halden", "Quarry", 198),
          ("Istel", "Rhona", 264), ("Jorvik", "Saltby", 121), ("Kelpie", "Tarn", 95), ("Lismore", "Ubrin", 350)]


def _river_squad() -> dict:
    paragraphs = []
    for i, (river, city, length) in enumerate(RIVERS):
        context = f"The {river} river flows through the town of {city}. It is {length} kilometres long."
        answer = f"{length} kilometres"
        paragraphs.append({"context": context, "qas": [
            {"id": f"r{i}", "question": f"How long is the {river} river?",
             "answers": [{"text": answer, "answer_start": context.index(answer)}]},
            {"id": f"c{i}", "question": f"Which town does the {river} flow through?",
             "answers": [{"text": city, "answer_start": context.index(city)}]}]})
    return {"version": "v2.0", "data": [{"title": "Rivers", "paragraphs": paragraphs}]}


def test_eval_through_elasticsearch_matches_in_memory_recall(es, demo_model, tmp_path, capsys):
    url, _, client = es
    dataset = tmp_path / "rivers.json"
    dataset.write_text(json.dumps(_river_squad()))
    results = {}
    for store in ("memory", "elasticsearch"):
        extra = ["--store", "elasticsearch", "--es-url", url] if store == "elasticsearch" else []
        out = tmp_path / f"eval-{store}"
        assert main(["eval", "--dataset", str(dataset), "--model", str(demo_model), "--retriever-top-k", "1,3",
                     "--output", str(out), "--no-progress", *extra]) == 0
        results[store] = json.loads((out / "metrics.json").read_text())["ks"]
    capsys.readouterr()
    for k in ("1", "3"):
        assert results["elasticsearch"][k]["retriever_recall"] == pytest.approx(
            results["memory"][k]["retriever_recall"], abs=100 / 24 + 1e-9)
    assert results["elasticsearch"]["3"]["retriever_recall"] == 100.0
    assert results["elasticsearch"]["3"]["reader"]["f1"] > 50
    assert not [i for i in client.indices.get(index="spanbert-eval-*") if i]  # the evaluation index was deleted


def test_serving_through_elasticsearch_answers(corpus, es, demo_model, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.app.settings import AppSettings
    from spanbert_reader.serve.app import create_serving_app
    from spanbert_reader.serve.service import QAService

    url, index, _ = es
    assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    capsys.readouterr()
    settings = AppSettings(store="elasticsearch", es_url=url, index=index, model=str(demo_model))
    app = create_serving_app(QAService(build_qa_pipeline(settings).pipeline))
    with TestClient(app) as client:
        response = client.post("/spanbert_qa/run", json={"question": "Where was the lighthouse of Alexandria built?"})
    assert response.status_code == 200, response.text
    body = response.json()
    answers = _spans(body)
    assert answers and "Pharos" in answers[0]["answer"]


def test_missing_or_empty_index_is_exit_2_with_a_message(es, capsys):
    url, index, client = es
    assert main(["ask", "q?", *_store(url, index)]) == 2
    assert f"has no index '{index}'" in capsys.readouterr().err
    client.indices.create(index=index)
    assert main(["ask", "q?", *_store(url, index)]) == 2
    assert "is empty" in capsys.readouterr().err


def test_score_fusion_sees_elasticsearch_retriever_scores(corpus, es, demo_model, capsys):
    from spanbert_reader.app.qa import build_qa_pipeline, find_answers, question_inputs
    from spanbert_reader.app.settings import AppSettings

    url, index, _ = es
    assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    capsys.readouterr()
    built = build_qa_pipeline(AppSettings(store="elasticsearch", es_url=url, index=index, model=str(demo_model)))
    answers = find_answers(built.pipeline.run(question_inputs(built.pipeline, "Where is Mount Etna?", 3, 3)))
    spans = [a for a in answers if a.data is not None]
    assert spans and all(a.meta["retriever_score"] is not None for a in spans)  # BM25 scores reached the reader
    best = spans[0]
    assert best.document.meta["file_path"].endswith("etna.txt")
    assert best.meta["fused_logit"] <= best.meta["logit"]  # the bonus is 0 for the best passage, negative below


def test_spanbert_qa_serve_through_elasticsearch_answers_a_request(corpus, es, demo_model, tmp_path, capsys):
    import socket
    import time
    import urllib.request

    url, index, _ = es
    assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    capsys.readouterr()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("spanbert-qa")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    server = subprocess.Popen([*command, "serve", *_store(url, index), "--model", str(demo_model), "--port",
                               str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/spanbert_qa/run", method="POST",
                                         data=json.dumps({"question": "Where was the lighthouse of Alexandria built?"})
                                         .encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    answers = _spans(body)
    assert answers and "Pharos" in answers[0]["answer"] and answers[0]["source"].endswith("pharos.txt")


def test_pretrain_from_an_elasticsearch_index_honours_the_url(corpus, es, tmp_path, capsys, monkeypatch):
    from helpers import make_tiny_qa_model

    url, index, _ = es
    assert main(["index", str(corpus), *_store(url, index), "--no-progress"]) == 0
    base = make_tiny_qa_model(tmp_path / "base", base=True)
    args = ["pretrain", "--from-index", index, "--store", "elasticsearch", "--model", str(base), "--max-seq-length",
            "32", "--batch-size", "2", "--max-steps", "1", "--cpu", "--no-progress"]
    monkeypatch.setenv("ELASTICSEARCH_URL", url)  # no --es-url: the environment names the server
    assert main([*args, "--output", str(tmp_path / "out")]) == 0
    assert "Pre-trained 1 steps on" in capsys.readouterr().out
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9")
    assert main([*args, "--es-url", url, "--output", str(tmp_path / "out2")]) == 0  # --es-url wins
