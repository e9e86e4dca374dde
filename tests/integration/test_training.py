"""Fine-tuning and pre-training loops on tiny models (CPU): they learn, resume exactly and save usable models."""

import json

import pytest
import torch
from helpers import make_tiny_qa_model
from synthetic_qa import synthetic_squad

from spanbert_reader.cli import main
from spanbert_reader.training.finetune import FinetuneConfig, finetune
from spanbert_reader.training.pretrain import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    (root / "train.json").write_text(json.dumps(synthetic_squad(600, 1, impossible_fraction=0.2)))
    (root / "dev.json").write_text(json.dumps(synthetic_squad(100, 2, impossible_fraction=0.2)))
    return root


def _config(data, model, output, **kwargs):
    defaults = dict(train=str(data / "train.json"), model=str(model), output=str(output), max_seq_length=48,
                    stride=8, max_query_length=8, learning_rate=1e-3, batch_size=16, progress=False, cpu=True)
    defaults.update(kwargs)
    return FinetuneConfig(**defaults)


@pytest.fixture(scope="module")
def trained(data):
    model = make_tiny_qa_model(data / "base", base=True)
    summary = finetune(_config(data, model, data / "out", dev=str(data / "dev.json"), max_steps=200, eval_steps=100))
    return data / "out", summary


def test_tiny_model_learns_synthetic_qa(trained):
    _, summary = trained
    best = summary["best_dev"]
    assert best["exact"] >= 90.0  # proves the loop (answers and no-answers), not a quality claim
    losses = [h["loss"] for h in summary["history"]]
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
    assert summary["history"][0]["lr"] < summary["history"][30]["lr"]  # warm-up
    assert summary["history"][-1]["lr"] < summary["history"][100]["lr"]  # linear decay


def test_saved_model_answers_through_the_reader_and_loads_in_transformers(trained):
    from haystack import Document
    from transformers import AutoModelForQuestionAnswering

    from spanbert_reader import SpanBERTReader

    output, summary = trained
    stored = json.loads((output / "null_threshold.json").read_text())
    assert stored["null_threshold"] == summary["best_dev"]["null_threshold"]
    reader = SpanBERTReader(model=str(output), top_k=1)
    reader.warm_up()
    assert reader.span_reader.settings.no_answer_method == "null_logit"
    doc = Document(content="the museum of the city saw a tiger in the river.")
    answers = reader.run(query="which animal is it?", documents=[doc])["answers"]
    assert answers[0].data == "tiger"
    no_animal = Document(content="the museum of the city in the river year.")
    assert reader.run(query="which animal is it?", documents=[no_animal])["answers"][0].data is None
    _, info = AutoModelForQuestionAnswering.from_pretrained(output, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_resume_continues_the_same_loss_curve(data):
    model = make_tiny_qa_model(data / "resume-base", base=True, seed=3)
    full = finetune(_config(data, model, data / "full", max_steps=20, per_device_batch_size=8))
    first = finetune(_config(data, model, data / "split", max_steps=20, per_device_batch_size=8, stop_after=10))
    assert first["steps"] == 10
    second = finetune(_config(data, model, data / "split", max_steps=20, per_device_batch_size=8, resume=True))
    assert second["steps"] == 20 and second["steps_this_run"] == 10
    expected = [h["loss"] for h in full["history"][10:]]
    resumed = [h["loss"] for h in second["history"][10:]]
    assert resumed == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_resume_without_state_is_a_clear_error(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved training state"):
        finetune(_config(data, "unused", tmp_path, resume=True))


def test_pretraining_loss_decreases_and_saves_an_encoder(tmp_path):
    from pathlib import Path

    from transformers import AutoModel

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    examples = Path(__file__).resolve().parents[2] / "examples" / "corpus"
    for path in examples.glob("*.txt"):
        (corpus / path.name).write_text(path.read_text() * 3)
    (corpus / "records.jsonl").write_text("\n".join(json.dumps({"text": "the museum of the city saw a red tiger "
                                                                         "in the river year " * 4})
                                                    for _ in range(10)))
    model = make_tiny_qa_model(tmp_path / "enc", base=True)
    summary = pretrain(PretrainConfig(model=str(model), output=str(tmp_path / "out"), corpus=[str(corpus)],
                                      max_seq_length=64, batch_size=8, learning_rate=2e-3, max_steps=40,
                                      progress=False, cpu=True))
    losses = [h["loss"] for h in summary["history"]]
    assert summary["steps"] == 40 and summary["blocks"] > 8
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.5
    assert all(h["sbo"] > 0 and h["mlm"] > 0 for h in summary["history"])
    encoder, info = AutoModel.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    from safetensors.torch import load_file

    before = load_file(model / "model.safetensors")["encoder.layer.0.attention.self.query.weight"]
    after = load_file(tmp_path / "out" / "model.safetensors")["encoder.layer.0.attention.self.query.weight"]
    assert not torch.equal(before, after)


def test_cli_train_and_pretrain(data, tmp_path, capsys):
    model = make_tiny_qa_model(tmp_path / "m", base=True)
    assert main(["train", "--train", str(data / "train.json"), "--dev", str(data / "dev.json"), "--model", str(model),
                 "--output", str(tmp_path / "qa"), "--max-seq-length", "48", "--stride", "8", "--max-query-length",
                 "8", "--lr", "1e-3", "--batch-size", "16", "--per-device-batch-size", "8", "--max-steps", "6",
                 "--cpu", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Trained 6 steps" in out and "Best dev: EM" in out
    assert (tmp_path / "qa" / "model.safetensors").exists() and (tmp_path / "qa" / "tokenizer.json").exists()
    assert main(["pretrain", "--corpus", str(data / "train.json"), "--model", str(model), "--output",
                 str(tmp_path / "pt"), "--max-seq-length", "64", "--batch-size", "4", "--max-steps", "3", "--cpu",
                 "--no-progress"]) == 0
    assert "Pre-trained 3 steps" in capsys.readouterr().out
    assert main(["train", "--train", str(tmp_path / "missing.json"), "--model", str(model), "--output",
                 str(tmp_path / "x"), "--cpu"]) == 2
    assert "Cannot read dataset" in capsys.readouterr().err
