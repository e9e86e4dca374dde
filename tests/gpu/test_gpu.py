"""GPU-only checks (skipped without CUDA): bf16 default, packed varlen attention vs padded, reader agreement."""

import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_auto_precision_is_bf16_on_gpu():
    from spanbert_reader.inference.precision import resolve_precision

    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert resolve_precision("auto", torch.device("cuda")) == expected


def test_packed_varlen_equals_padded_bf16():
    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering
    from spanbert_reader.modeling.encoder import PackedLayout

    torch.manual_seed(0)
    model = SpanBertForQuestionAnswering(SpanBertConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=4,
                                                        num_attention_heads=4, intermediate_size=1024))
    model = model.cuda().to(torch.bfloat16).eval()
    lengths = [384, 200, 57, 300]
    ids = torch.randint(5, 1000, (4, 384), device="cuda")
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    types = torch.zeros_like(ids)
    flat = lambda t: torch.cat([t[r, :n] for r, n in enumerate(lengths)])  # noqa: E731
    positions = torch.cat([torch.arange(n, device="cuda") for n in lengths])
    with torch.inference_mode():
        padded = model(ids, mask, types)
        packed = model.forward_packed(flat(ids), flat(types), positions, PackedLayout.from_lengths(lengths, "cuda"))
    assert (flat(padded.start_logits) - packed.start_logits).abs().max() < 0.1


def test_reader_on_gpu_matches_cpu_top_answers(minilm_qa):
    from haystack import Document

    from spanbert_reader import SpanBERTReader

    docs = [Document(content="Paris is the capital of France. The Seine flows through Paris."),
            Document(content="Berlin is the capital of Germany.")]
    gpu = SpanBERTReader(model=str(minilm_qa), precision="fp32")
    from haystack.utils import ComponentDevice

    cpu = SpanBERTReader(model=str(minilm_qa), device=ComponentDevice.from_str("cpu"))
    a = gpu.run(query="What is the capital of France?", documents=docs)["answers"][0]
    b = cpu.run(query="What is the capital of France?", documents=docs)["answers"][0]
    assert (a.data, a.document_offset) == (b.data, b.document_offset)
