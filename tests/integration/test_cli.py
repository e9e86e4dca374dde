"""`spanbert-qa` end to end on the embedded in-memory store (index in one process, ask in another)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spanbert_reader.cli import main

FACTS = {
    "txt": ("notes.txt", "The lighthouse of Alexandria was built on the island of Pharos around 280 BC."),
    "md": ("guide.md", "# Volcanoes\n\nMount Etna is an active stratovolcano on the east coast of Sicily."),
    "html": ("page.html", "<html><body><h1>Glaciers</h1><p>The Aletsch Glacier is the largest glacier in the "
             "Alps, located in the canton of Valais.</p></body></html>"),
}
QUESTIONS = {
    "txt": ("Where was the lighthouse of Alexandria built?", "notes.txt"),
    "md": ("Where is Mount Etna stratovolcano?", "guide.md"),
    "html": ("Which glacier is the largest in the Alps?", "page.html"),
    "pdf": ("What does the quantum chromodynamics handbook describe?", "handbook.pdf"),
    "json": ("What is the Okavango delta inland?", "squad.json"),
    "jsonl": ("Which bird migrates across the Sahara?", "records.jsonl"),
}


def _make_corpus(folder: Path) -> Path:
    folder.mkdir()
    for name, text in FACTS.values():
        (folder / name).write_text(text, encoding="utf-8")
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "The quantum chromodynamics handbook describes how quarks and gluons interact.")
    pdf.output(str(folder / "handbook.pdf"))
    squad = {"version": "v2.0", "data": [{"title": "Okavango", "paragraphs": [
        {"context": "The Okavango Delta is a large inland delta in Botswana formed where the river reaches a basin.",
         "qas": []}]}]}
    (folder / "squad.json").write_text(json.dumps(squad))
    (folder / "records.jsonl").write_text(
        json.dumps({"text": "The barn swallow migrates across the Sahara every autumn.", "title": "Swallow"})
        + "\n" + json.dumps({"text": "Camels store fat in their humps.", "title": "Camel"}) + "\n")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "empty.txt").write_text("")
    (folder / "broken.json").write_text("{not json")
    return folder


def _cli(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("spanbert-qa")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_qa):
    root = tmp_path_factory.mktemp("cli")
    corpus = _make_corpus(root / "corpus")
    env = {**os.environ, "SPANBERT_DATA_DIR": str(root / "data"), "SPANBERT_MODEL": str(tiny_qa),
           "HAYSTACK_TELEMETRY_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    result = _cli("index", str(corpus), "--no-progress", env=env)
    return root, env, result


def test_index_reports_files_passages_and_skips(indexed):
    root, _, result = indexed
    assert "Indexed 6 file(s) into 7 passage(s)" in result.stdout
    assert "Skipped 3 file(s)" in result.stdout
    assert "image.png: unsupported file type '.png'" in result.stdout
    assert "empty.txt: empty file" in result.stdout
    assert "broken.json: invalid JSON" in result.stdout
    assert (root / "data" / "default.json").exists()


@pytest.mark.parametrize("kind", sorted(QUESTIONS))
def test_ask_finds_the_right_document_for_each_file_type(indexed, kind):
    _, env, _ = indexed
    question, source = QUESTIONS[kind]
    result = _cli("ask", question, "--json", "--retriever-top-k", "1", "--top-k", "2", env=env)
    payload = json.loads(result.stdout)
    assert payload["question"] == question
    spans = [a for a in payload["answers"] if not a.get("no_answer")]
    assert spans, payload
    for answer in spans:
        assert answer["source"].endswith(source) or answer["meta"].get("file_path", "").endswith(source)
        assert "»" + answer["answer"] + "«" in answer["context"]


def test_ask_in_int8_answers_from_the_same_document(indexed):
    _, env, _ = indexed
    question, source = QUESTIONS["txt"]
    answers = {}
    for precision in ("fp32", "int8"):
        result = _cli("ask", question, "--json", "--precision", precision, "--retriever-top-k", "1", "--top-k", "1",
                      env=env)
        answers[precision] = [a for a in json.loads(result.stdout)["answers"] if not a.get("no_answer")]
        assert answers[precision] and answers[precision][0]["source"].endswith(source), answers[precision]
    bad = _cli("ask", question, "--precision", "int4", env=env, check=False)
    assert bad.returncode == 2 and "invalid choice: 'int4'" in bad.stderr
    bad = _cli("ask", question, env={**env, "SPANBERT_PRECISION": "int4"}, check=False)
    assert bad.returncode == 2 and "must be one of auto, fp32, fp16, bf16, int8; got 'int4'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_ask_table_and_interactive_mode(indexed):
    _, env, _ = indexed
    exe = Path(sys.executable).with_name("spanbert-qa")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    result = subprocess.run([*command, "ask", "--top-k", "1"], input="Where is Mount Etna?\nWhat is Pharos?\n",
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Q: ") == 2 and "score" in result.stdout and "»" in result.stdout


def test_pipelines_command(capsys):
    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    assert "inmemory_qa" in out and "elasticsearch_hybrid_qa" in out


def test_ask_without_index_says_index_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path))
    assert main(["ask", "What?"]) == 2
    assert "run `spanbert-qa index PATH...` first" in capsys.readouterr().err


def test_ask_with_unusable_model_explains(indexed, capsys, monkeypatch, tmp_path):
    _, env, _ = indexed
    monkeypatch.setenv("SPANBERT_DATA_DIR", env["SPANBERT_DATA_DIR"])
    assert main(["ask", "What?", "--model", str(tmp_path / "missing-model")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--model PATH" in err


def test_offline_hub_default_without_demo_model_explains(indexed, capsys, monkeypatch):
    import spanbert_reader.app.qa

    _, env, _ = indexed
    monkeypatch.setenv("SPANBERT_DATA_DIR", env["SPANBERT_DATA_DIR"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SPANBERT_MODEL", raising=False)
    monkeypatch.setattr(spanbert_reader.app.qa, "demo_model_path", lambda: None)
    assert main(["ask", "What?"]) == 2
    err = capsys.readouterr().err
    assert "Hugging Face hub" in err and "local folder" in err and "Traceback" not in err


DEAD_ES = "http://127.0.0.1:9"
UNREACHABLE_CASES = [(command, choice) for command in ("index", "ask", "eval", "serve")
                     for choice in ("store", "elasticsearch_qa", "elasticsearch_hybrid_qa")]


@pytest.mark.slow  # one console-script start per case
@pytest.mark.parametrize(("command", "choice"), UNREACHABLE_CASES)
def test_unreachable_elasticsearch_is_one_line_and_exit_2(command, choice, tmp_path):
    (tmp_path / "a.txt").write_text("hello world")
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    args = {"index": ["index", str(tmp_path / "a.txt"), "--no-progress"], "ask": ["ask", "q?"],
            "eval": ["eval", "--dataset", str(fixture), "--no-progress", "--output", str(tmp_path / "e")],
            "serve": ["serve", "--port", "1"]}[command]
    if choice == "store":
        args += ["--store", "elasticsearch"]
    elif command == "index":
        args += ["--pipeline", choice.replace("_qa", "_indexing")]
    else:
        args += ["--pipeline", choice]
    exe = Path(sys.executable).with_name("spanbert-qa")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data"), "ELASTICSEARCH_URL": DEAD_ES}
    started = time.monotonic()
    result = subprocess.run(base + args, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert f"Elasticsearch at {DEAD_ES} is unreachable" in result.stderr
    assert "Traceback" not in result.stderr and "in-memory" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, result.stderr
    assert elapsed < 30  # one request, no retries (the rest is Python start-up)


def test_empty_question_and_no_files(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path / "d"))
    assert main(["ask", "   "]) == 2
    assert "question is empty" in capsys.readouterr().err
    (tmp_path / "x.bin").write_bytes(b"1")
    assert main(["index", str(tmp_path / "x.bin"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No indexable files" in err and "x.bin: unsupported file type" in err
    assert not (tmp_path / "d" / "default.json").exists()  # a failed index writes nothing


def test_offline_hub_default_falls_back_to_the_demo_model(indexed, capsys, monkeypatch):
    import spanbert_reader.app.qa

    _, env, _ = indexed
    monkeypatch.setenv("SPANBERT_DATA_DIR", env["SPANBERT_DATA_DIR"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SPANBERT_MODEL", raising=False)
    monkeypatch.setattr(spanbert_reader.app.qa, "demo_model_path", lambda: Path(env["SPANBERT_MODEL"]))
    assert main(["ask", "Where is Mount Etna?", "--json"]) == 0
    captured = capsys.readouterr()
    assert "using the bundled small demo model" in captured.err
    assert json.loads(captured.out)["answers"]


def test_non_memory_pipeline_never_asks_for_the_memory_index(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path / "empty"))
    for name in ("elasticsearch_qa", "elasticsearch_hybrid_qa"):
        assert main(["ask", "q?", "--pipeline", name, "--es-url", "http://127.0.0.1:9"]) == 2
        err = capsys.readouterr().err
        assert "Elasticsearch at http://127.0.0.1:9 is unreachable" in err
        assert "in-memory" not in err and "Traceback" not in err


def test_custom_yaml_is_refused_before_the_index_is_looked_for(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path / "empty"))
    bad = tmp_path / "bad.yml"
    bad.write_text("components:\n  evil:\n    type: os.system\n    init_parameters: {}\nconnections: []\n")
    assert main(["ask", "q?", "--pipeline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "type 'os.system' is not allowed" in err and "in-memory index" not in err
    no_reader = tmp_path / "no_reader.yml"
    no_reader.write_text(
        "components:\n  retriever:\n"
        "    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever\n"
        "    init_parameters:\n      document_store:\n"
        "        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore\n"
        "        init_parameters: {}\nconnections: []\n")
    assert main(["ask", "q?", "--pipeline", str(no_reader)]) == 2
    assert "no component with an 'answers' output" in capsys.readouterr().err
