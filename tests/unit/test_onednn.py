"""fp32 Linear layers through oneDNN on CPU: the same products as nn.Linear, the same answers as the reader
without them, and used only where they run (fp32 on the CPU; never int8, bf16 or another device)."""

import json
from pathlib import Path

import pytest
import torch
from haystack import Document

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference import onednn
from spanbert_reader.inference.precision import use_onednn_if_faster
from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering
from spanbert_reader.modeling.encoder import FusedProjections

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "spanbert_reader" / "models" / "minilm-squad-demo"

needs_onednn = pytest.mark.skipif(not onednn.onednn_linear_available(),
                                  reason="this torch build has no oneDNN inner product on the CPU")


def _tiny_model() -> SpanBertForQuestionAnswering:
    torch.manual_seed(0)
    config = SpanBertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64)
    return SpanBertForQuestionAnswering(config).eval()


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_linear_gives_nn_linears_products_for_any_leading_shape(bias):
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 40, bias=bias)
    packed = onednn.OneDNNLinear.from_linear(linear)
    for shape in ((7, 48), (3, 5, 48), (1, 48)):
        x = torch.randn(*shape)
        with torch.inference_mode():
            assert packed(x).shape == linear(x).shape
            torch.testing.assert_close(packed(x), linear(x), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_the_encoder_with_packed_linears_gives_the_same_logits_and_the_head_stays():
    model = _tiny_model()
    ids = torch.randint(5, 120, (2, 11))
    with torch.inference_mode():
        before = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    count = sum(type(m) is torch.nn.Linear for m in model.bert.encoder.modules())
    assert onednn.use_onednn_linears(model.bert.encoder) == count == 2 * 6
    assert not any(type(m) is torch.nn.Linear for m in model.bert.encoder.modules())
    assert type(model.qa_outputs) is torch.nn.Linear
    for layer in model.bert.encoder.layer:  # query/key/value as one product; GELU inside the first FFN product
        assert isinstance(layer.attention.self, FusedProjections) and layer.attention.self.fused.out_features == 96
        assert layer.intermediate.dense.gelu and layer.act(torch.tensor([-1.0])).item() == -1.0
    with torch.inference_mode():
        after = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    torch.testing.assert_close(after.start_logits, before.start_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after.end_logits, before.end_logits, rtol=1e-5, atol=1e-5)


def test_only_fp32_on_the_cpu_is_switched(monkeypatch):
    monkeypatch.setattr(onednn, "onednn_is_faster", lambda module: True)
    for precision in ("int8", "bf16", "fp16"):
        assert not use_onednn_if_faster(_tiny_model(), precision, torch.device("cpu"))
    assert not use_onednn_if_faster(_tiny_model(), "fp32", torch.device("meta"))
    monkeypatch.setattr(onednn, "onednn_is_faster", lambda module: False)
    model = _tiny_model()
    assert not use_onednn_if_faster(model, "auto", torch.device("cpu"))
    assert not any(isinstance(m, onednn.OneDNNLinear) for m in model.modules())


def test_without_onednn_nothing_is_measured_or_replaced(monkeypatch):
    monkeypatch.setattr(onednn, "onednn_linear_available", lambda: False)
    assert onednn.onednn_is_faster(_tiny_model()) is False
    assert onednn.onednn_is_faster(torch.nn.Sequential(torch.nn.ReLU())) is False  # no Linear at all


@needs_onednn
def test_the_demo_reader_gives_the_same_answers_with_and_without_onednn(monkeypatch):
    questions = [json.loads(line)["question"]
                 for line in (ROOT / "examples" / "corpus" / "questions.jsonl").read_text().splitlines() if line]
    documents = [Document(content=p) for path in sorted((ROOT / "examples" / "corpus").iterdir())
                 if path.suffix in (".txt", ".md") for p in path.read_text(encoding="utf-8").split("\n\n")
                 if len(p.split()) > 8]
    results = {}
    for used in (False, True):
        monkeypatch.setattr(onednn, "onednn_is_faster", lambda module, used=used: used)
        reader = SpanBERTReader(model=str(DEMO), precision="fp32", top_k=3, no_answer=False)
        reader.warm_up()
        packed = [m for m in reader.span_reader.model.modules() if isinstance(m, onednn.OneDNNLinear)]
        assert bool(packed) is used
        results[used] = [[(a.data, a.document.id, round(a.score, 4)) for a in reader.run(query=q, documents=documents)
                          ["answers"]] for q in questions]
    assert results[True] == results[False]
