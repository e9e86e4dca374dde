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
    from spanbert_reader.inference.answers import read_fusion

    bm25, hybrid = read_fusion(DEMO), read_fusion(DEMO, "hybrid")
    assert bm25 is not None and hybrid is not None and bm25 != hybrid  # tuned apart (BENCHMARKS.md)
    for name, expected in (("inmemory_qa", bm25), ("inmemory_hybrid_qa", hybrid)):
        reader = load_pipeline(name, {"SPANBERT_MODEL": str(DEMO), "EMBEDDING_MODEL": "unused"}).get_component(
            "reader")
        reader.warm_up()
        assert reader.fusion == expected, name
