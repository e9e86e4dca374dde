"""GPU checks: bf16 default, packed variable-length flash attention equal to padded attention (head_dim 32 and 64,
the varlen kernel really called), and the bf16 GPU reader agreeing with the fp32 CPU reader on a real model.

They run on CUDA (skipped without it). ``SPANBERT_TEST_DEVICE=cpu`` runs the same code on the CPU (the dry run of
benchmarks/gpu_check.sh --smoke-cpu): what needs CUDA is then checked for its CPU fallback instead. No fixture
needs a package the GPU machine lacks: the real model is the bundled demo reader.
"""

import os
from pathlib import Path

import pytest
import torch

DEVICE = os.environ.get("SPANBERT_TEST_DEVICE", "cuda")
DEMO = Path(__file__).resolve().parents[2] / "spanbert_reader" / "models" / "minilm-squad-demo"

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_auto_precision_is_bf16_on_gpu():
    from spanbert_reader.inference.precision import resolve_precision

    if DEVICE == "cuda":
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        expected = torch.float32
    assert resolve_precision("auto", torch.device(DEVICE)) == expected


@pytest.mark.parametrize("head_dim", [32, 64])
def test_packed_varlen_equals_padded_bf16(head_dim, monkeypatch):
    import spanbert_reader.modeling.encoder as encoder
    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering
    from spanbert_reader.modeling.encoder import PackedLayout

    kernel = encoder._varlen_attention()
    calls = []
    if kernel is not None:
        def counted(*args, **kwargs):
            calls.append(args[0].shape)
            return kernel(*args, **kwargs)

        monkeypatch.setattr(encoder, "_varlen_attention", lambda: counted)
    torch.manual_seed(0)
    heads = 4
    model = SpanBertForQuestionAnswering(SpanBertConfig(vocab_size=1000, hidden_size=heads * head_dim,
                                                        num_hidden_layers=2, num_attention_heads=heads,
                                                        intermediate_size=4 * heads * head_dim))
    model = model.to(DEVICE).to(torch.bfloat16).eval()
    lengths = [384, 200, 57, 300]
    ids = torch.randint(5, 1000, (4, 384), device=DEVICE)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    types = torch.zeros_like(ids)
    flat = lambda t: torch.cat([t[r, :n] for r, n in enumerate(lengths)])  # noqa: E731
    positions = torch.cat([torch.arange(n, device=DEVICE) for n in lengths])
    with torch.inference_mode():
        padded = model(ids, mask, types)
        packed = model.forward_packed(flat(ids), flat(types), positions, PackedLayout.from_lengths(lengths, DEVICE))
    assert (flat(padded.start_logits) - packed.start_logits).abs().max() < 0.1
    if DEVICE == "cuda":
        assert kernel is not None, "this torch has no variable-length flash attention"
        assert len(calls) == 2 and calls[0][-1] == head_dim  # one varlen call per layer, at this head size
    else:
        assert not calls  # the CPU path is the per-sequence SDPA loop


@pytest.mark.skipif(not (DEMO / "model.safetensors").exists(), reason="the bundled demo reader is absent")
def test_bf16_reader_on_the_device_matches_fp32_on_cpu():
    from haystack import Document
    from haystack.utils import ComponentDevice

    from spanbert_reader import SpanBERTReader

    docs = [Document(content="Paris is the capital of France. The Seine flows through Paris."),
            Document(content="Berlin is the capital of Germany and lies on the Spree."),
            Document(content="Mount Etna is an active volcano on the east coast of Sicily.")]
    questions = ["What is the capital of France?", "Which river flows through Paris?", "Where is Mount Etna?",
                 "Which river does Berlin lie on?"]
    device = SpanBERTReader(model=str(DEMO), device=ComponentDevice.from_str(DEVICE), precision="bf16")
    cpu = SpanBERTReader(model=str(DEMO), device=ComponentDevice.from_str("cpu"), precision="fp32")
    for question in questions:
        a = device.run(query=question, documents=docs)["answers"][0]
        b = cpu.run(query=question, documents=docs)["answers"][0]
        assert (a.data, a.document_offset) == (b.data, b.document_offset), question
