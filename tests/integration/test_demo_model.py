"""The README's main job with the shipped demo model: index examples/corpus, ask its questions, get them right."""

import json
from pathlib import Path

import pytest

from spanbert_reader.app.settings import demo_model_path
from spanbert_reader.cli import main
from spanbert_reader.data.text import normalize_answer

ROOT = Path(__file__).resolve().parents[2]
DEMO = demo_model_path()
pytestmark = pytest.mark.skipif(DEMO is None, reason="the demo model is not in this checkout "
                                "(build it with scripts/build_demo_model.py)")


def test_demo_model_answers_the_example_questions(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SPANBERT_MODEL", raising=False)
    assert main(["index", str(ROOT / "examples" / "corpus"), "--no-progress"]) == 0
    capsys.readouterr()
    lines = (ROOT / "examples" / "corpus" / "questions.jsonl").read_text().splitlines()
    examples = [json.loads(line) for line in lines]
    correct = []
    for example in examples:
        # no --model: offline, the CLI falls back to the bundled demo model
        assert main(["ask", example["question"], "--json", "--top-k", "1"]) == 0
        captured = capsys.readouterr()
        assert "demo model" in captured.err
        top = json.loads(captured.out)["answers"][0]
        predicted = normalize_answer(top.get("answer") or "")
        expected = normalize_answer(example["answer"])
        correct.append(bool(predicted) and (expected in predicted or predicted in expected))
    wrong = [e["question"] for e, ok in zip(examples, correct, strict=True) if not ok]
    assert not wrong, f"wrong answers for {wrong}"


def test_bundled_pipelines_use_the_demo_models_fusion_entry_for_their_retriever():
    from spanbert_reader.app.pipelines import load_pipeline
    from spanbert_reader.inference.side_files import stored_fusion

    record = json.loads((DEMO / "fusion.json").read_text())
    assert "retriever_weight" in record and "retriever_weight" in record["profiles"]["hybrid"]  # both tuned
    bm25, hybrid = stored_fusion(DEMO), stored_fusion(DEMO, "hybrid")
    assert bm25.retriever_weight == record["retriever_weight"] and bm25 != hybrid  # tuned apart (BENCHMARKS.md)
    for name, expected in (("inmemory_qa", bm25), ("inmemory_hybrid_qa", hybrid)):
        reader = load_pipeline(name, {"SPANBERT_MODEL": str(DEMO), "EMBEDDING_MODEL": "unused"}).get_component(
            "reader")
        reader.warm_up()
        assert reader.span_reader.settings.fusion == expected, name


def test_demo_model_says_not_found_when_the_corpus_cannot_answer_and_still_answers_the_readme_question(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["index", str(ROOT / "examples" / "corpus"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["ask", "What is the capital of Australia?", "--json", "--model", str(DEMO)]) == 0
    missing = json.loads(capsys.readouterr().out)
    assert missing["not_found"] is True and missing["answers"][0]["no_answer"] is True
    assert main(["ask", "What is the capital of Australia?", "--model", str(DEMO)]) == 0
    assert "Not found in your documents" in capsys.readouterr().out
    assert main(["ask", "Who designed the glass pyramid of the Louvre?", "--json", "--model", str(DEMO)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["not_found"] is False and "Pei" in found["answers"][0]["answer"]
