"""The end-to-end flow against a real Elasticsearch at $ELASTICSEARCH_URL (skipped when none is reachable).

Never a mock or an emulator: start a single-node ES 8 (see README) and export ELASTICSEARCH_URL to run these.
"""

import json
import os
import uuid

import pytest

from spanbert_reader.cli import main

URL = os.environ.get("ELASTICSEARCH_URL")


def _reachable(url: str | None) -> str | None:
    if not url:
        return "ELASTICSEARCH_URL is not set; these tests need a real Elasticsearch server"
    try:
        from elasticsearch import Elasticsearch

        Elasticsearch(url, request_timeout=5).info()
    except Exception as exc:
        return f"Elasticsearch at {url} is not reachable ({type(exc).__name__})"
    return None


SKIP_REASON = _reachable(URL)
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


@pytest.fixture()
def es_index():
    from elasticsearch import Elasticsearch

    name = f"spanbert-test-{uuid.uuid4().hex[:10]}"
    yield name
    Elasticsearch(URL, request_timeout=10).indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "etna.txt").write_text("Mount Etna is an active stratovolcano on the east coast of Sicily.")
    (folder / "aletsch.md").write_text("# Glaciers\n\nThe Aletsch Glacier is the largest glacier in the Alps.")
    (folder / "pharos.txt").write_text("The lighthouse of Alexandria was built on the island of Pharos.")
    return folder


def _ask(capsys, *args):
    assert main(["ask", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bm25_index_and_ask(corpus, es_index, tiny_qa, capsys, monkeypatch):
    monkeypatch.setenv("SPANBERT_MODEL", str(tiny_qa))
    assert main(["index", str(corpus), "--store", "elasticsearch", "--es-url", URL, "--index", es_index,
                 "--no-progress"]) == 0
    assert "into 3 passage(s)" in capsys.readouterr().out
    payload = _ask(capsys, "Where is Mount Etna?", "--store", "elasticsearch", "--es-url", URL, "--index", es_index,
                   "--retriever-top-k", "1")
    spans = [a for a in payload["answers"] if not a.get("no_answer")]
    assert spans and all(a["source"].endswith("etna.txt") for a in spans)


def test_hybrid_index_and_ask(corpus, es_index, tiny_qa, capsys, monkeypatch):
    from helpers import minilm_path

    monkeypatch.setenv("SPANBERT_MODEL", str(tiny_qa))
    embed = ["--embedding-model", str(minilm_path())]
    assert main(["index", str(corpus), "--store", "elasticsearch", "--es-url", URL, "--index", es_index,
                 "--embed", "--no-progress", *embed]) == 0
    capsys.readouterr()
    payload = _ask(capsys, "Which glacier is the largest in the Alps?", "--store", "elasticsearch",
                   "--es-url", URL, "--index", es_index, "--pipeline", "elasticsearch_hybrid_qa",
                   "--retriever-top-k", "1", *embed)
    spans = [a for a in payload["answers"] if not a.get("no_answer")]
    assert spans and all(a["source"].endswith("aletsch.md") for a in spans)


def test_missing_index_says_index_first(capsys):
    assert main(["ask", "q?", "--store", "elasticsearch", "--es-url", URL,
                 "--index", f"missing-{uuid.uuid4().hex[:8]}"]) == 2
    assert "run `spanbert-qa index PATH... --store elasticsearch" in capsys.readouterr().err
