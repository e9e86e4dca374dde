"""precision="int8": dynamic int8 quantisation of the encoder on CPU (opt-in), its agreement with fp32 on real
weights, and clear refusals where it cannot run."""

import json
from pathlib import Path

import pytest
import torch
from haystack import Document
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference import precision as precision_module
from spanbert_reader.inference.precision import quantize_if_asked

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
    quantised = [m for m in model.bert.modules() if isinstance(m, DynamicLinear)]
    assert not linear and len(quantised) == 6 * model.config.num_hidden_layers
    assert type(model.qa_outputs) is torch.nn.Linear and model.qa_outputs.weight.dtype == torch.float32
    same = sum(a == b for a, b in zip(answers["fp32"], answers["int8"], strict=True))
    assert same >= len(questions) - 2, (answers, same)


def test_int8_is_refused_off_the_cpu_and_without_a_quantised_engine(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(ValueError, match="CPU only"):
        quantize_if_asked(model, "int8", torch.device("cuda"))
    monkeypatch.setattr(precision_module, "_quantized_engines", lambda: [])
    with pytest.raises(RuntimeError, match="quantised CPU engine"):
        quantize_if_asked(model, "int8", torch.device("cpu"))
    assert quantize_if_asked(model, "fp32", torch.device("cuda")) is model  # other precisions: untouched
