"""precision="int8": int8 Linear layers in the encoder on CPU (opt-in; weights per output channel, activations per
token), their arithmetic, their agreement with fp32 on real weights, and clear refusals where they cannot run."""

import json
from pathlib import Path

import pytest
import torch
from haystack import Document

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference.int8 import Int8Linear, Int8Projections, quantise_to_int8
from spanbert_reader.inference.precision import quantize_if_asked
from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "spanbert_reader" / "models" / "minilm-squad-demo"


def _passages() -> list[Document]:
    texts = []
    for path in sorted((ROOT / "examples" / "corpus").iterdir()):
        if path.suffix in (".txt", ".md"):
            texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.split()) > 8]
    return [Document(content=t) for t in texts]


def test_int8_quantises_the_encoder_keeps_the_span_head_fp32_and_agrees_with_fp32_on_the_readme_questions():
    questions = [json.loads(line)["question"]
                 for line in (ROOT / "examples" / "corpus" / "questions.jsonl").read_text().splitlines() if line]
    documents = _passages()
    answers = {}
    for precision in ("fp32", "int8"):
        reader = SpanBERTReader(model=str(DEMO), precision=precision, top_k=1, no_answer=False)
        reader.warm_up()
        answers[precision] = [reader.run(query=q, documents=documents)["answers"][0].data for q in questions]
    model = reader.span_reader.model
    linear = [m for m in model.bert.modules() if type(m) is torch.nn.Linear]
    fused = [m for m in model.bert.modules() if isinstance(m, Int8Projections)]
    quantised = [m for m in model.bert.encoder.modules() if isinstance(m, Int8Linear)]
    # per layer: fused query/key/value, attention output, intermediate, output
    assert not linear and len(fused) == model.config.num_hidden_layers
    assert len(quantised) == 4 * model.config.num_hidden_layers
    assert type(model.qa_outputs) is torch.nn.Linear and model.qa_outputs.weight.dtype == torch.float32
    same = sum(a == b for a, b in zip(answers["fp32"], answers["int8"], strict=True))
    assert same >= len(questions) - 2, (answers, same)


@pytest.mark.parametrize("rows", [1, 7, 16, 17, 40])
def test_int8_linear_matches_its_own_integer_arithmetic_and_stays_close_to_fp32(rows):
    torch.manual_seed(rows)
    linear = torch.nn.Linear(24, 10)
    x = torch.randn(2, rows, 24)
    x[0, 0] *= 50  # one loud token: with a scale per token it must not blur the others
    layer = Int8Linear.from_linear(linear)
    y = layer(x)
    assert y.shape == (2, rows, 10) and y.dtype == torch.float32
    flat = x.reshape(-1, 24)
    scale = flat.abs().amax(1, keepdim=True) / 127
    xq = torch.round(flat / scale)
    w_scale = linear.weight.abs().amax(1) / 127
    wq = torch.round(linear.weight / w_scale[:, None])
    expected = (xq @ wq.t()) * scale * w_scale + linear.bias
    torch.testing.assert_close(y.reshape(-1, 10), expected.detach(), rtol=1e-5, atol=1e-5)
    reference = linear(x).detach()
    quiet = [(b, t) for b in range(2) for t in range(rows) if (b, t) != (0, 0)]
    for b, t in quiet:  # each token's error is bounded by its own scale, not the loud token's
        bound = 0.05 * reference[b, t].abs().max() + 0.02
        assert (y[b, t] - reference[b, t]).abs().max() <= bound


def test_fused_projections_give_query_key_value_like_the_three_layers_and_the_model_keeps_its_answers():
    config = SpanBertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    model = SpanBertForQuestionAnswering(config).eval()
    ids = torch.randint(5, 60, (3, 20))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    with torch.inference_mode():
        before = model(ids, mask, torch.zeros_like(ids))
        projections = model.bert.encoder.layer[0].attention.self
        q, k, v = projections(torch.randn(3, 20, 32))
        assert q.shape == k.shape == v.shape == (3, 20, 32)
        linears = sum(type(m) is torch.nn.Linear for m in model.bert.modules())
        assert linears >= 6 * config.num_hidden_layers
        assert quantise_to_int8(model.bert) == linears
        assert not any(type(m) is torch.nn.Linear for m in model.bert.modules())
        assert isinstance(model.bert.encoder.layer[0].attention.self, Int8Projections)
        after = model(ids, mask, torch.zeros_like(ids))
    for name in ("start_logits", "end_logits"):
        old, new = getattr(before, name), getattr(after, name)
        assert (old - new).abs().max() < 0.05 * old.abs().max() + 0.05
        assert (old.argmax(-1) == new.argmax(-1)).float().mean() >= 2 / 3


def test_int8_is_refused_off_the_cpu_and_without_int8_matrix_products(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(ValueError, match="CPU only"):
        quantize_if_asked(model, "int8", torch.device("cuda"))
    monkeypatch.setattr(torch, "_int_mm", None)
    with pytest.raises(RuntimeError, match="int8 matrix products"):
        quantize_if_asked(model, "int8", torch.device("cpu"))
    assert quantize_if_asked(model, "fp32", torch.device("cuda")) is model  # other precisions: untouched
