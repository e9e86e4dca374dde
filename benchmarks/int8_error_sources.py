"""Where int8's changed answers come from: the bundled demo reader on the same 370 held-out questions as
``int8_cpu.py``, with only the weights or only the activations of the encoder's Linear layers rounded to int8
(simulated: the rounded values multiplied in fp32), against fp32 top answers. Writes the "int8 error sources"
section of BENCHMARKS.md.

    python benchmarks/int8_error_sources.py
"""

from __future__ import annotations

import datetime
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine_line, write_section  # noqa: E402
from int8_cpu import DATA, DEMO, held_out_questions, top_answers  # noqa: E402
from torch import nn  # noqa: E402

OUTLIER = 3.0  # input columns whose largest |activation| in the call exceeds this stay unrounded


def _rounded_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to int8 with one scale per row, back in fp32 (the shipped scheme's rounding)."""
    from spanbert_reader.inference.int8 import _quantise_rows

    quantised, scale = _quantise_rows(x)
    return quantised.float() * scale


def _rounded_groups(weight: torch.Tensor, group: int) -> torch.Tensor:
    """``weight`` (out, in) rounded to int8 with one scale per ``group`` consecutive inputs of each output."""
    out_features, in_features = weight.shape
    blocks = weight.reshape(out_features * (in_features // group), group)
    return _rounded_rows(blocks).reshape(out_features, in_features)


class RoundedLinear(nn.Module):
    """``linear`` computed in fp32 from int8-rounded weights and/or activations (``weights``: "fp32",
    "channel" or "group128"; ``activations``: "fp32", "token" or "token+outliers")."""

    def __init__(self, linear: nn.Linear, weights: str, activations: str) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        if weights == "channel":
            weight = _rounded_rows(weight)
        elif weights == "group128":
            weight = _rounded_groups(weight, 128)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
        self.activations = activations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activations != "fp32":
            rows = x.reshape(-1, x.shape[-1])
            kept = (rows.abs().amax(dim=0) > OUTLIER) if self.activations == "token+outliers" else None
            rounded = _rounded_rows(rows if kept is None else rows.masked_fill(kept, 0.0))
            if kept is not None:
                rounded = torch.where(kept, rows, rounded)
            x = rounded.view(x.shape)
        return nn.functional.linear(x, self.weight, self.bias)


@contextmanager
def torch_linears():
    """Inside: readers keep ``nn.Linear`` (no oneDNN), so every row rounds the same layers and compares against
    the same fp32 products."""
    from spanbert_reader.inference import onednn

    measured = onednn.onednn_is_faster
    onednn.onednn_is_faster = lambda module: False
    try:
        yield
    finally:
        onednn.onednn_is_faster = measured


def round_encoder(reader, weights: str, activations: str) -> None:
    """Replace every Linear layer of ``reader``'s encoder by a :class:`RoundedLinear`."""
    encoder = reader.span_reader.model.bert.encoder
    for parent in list(encoder.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, RoundedLinear(child, weights, activations))


VARIANTS = (  # (label, precision, weights, activations)
    ("weights int8, one scale per output channel (as shipped); activations fp32", "fp32", "channel", "fp32"),
    ("weights int8, one scale per 128 inputs of each output channel; activations fp32", "fp32", "group128", "fp32"),
    ("weights fp32; activations int8, one scale per token (as shipped)", "fp32", "fp32", "token"),
    (f"weights fp32; activations int8 per token, input columns above {OUTLIER:g} kept fp32", "fp32", "fp32",
     "token+outliers"),
    ("both as shipped: `precision=\"int8\"` (torch._int_mm)", "int8", None, None),
    ("`precision=\"bf16\"`, for comparison", "bf16", None, None),
)


def main() -> int:
    from spanbert_reader import SpanBERTReader
    from spanbert_reader.evaluation.metrics import score_squad

    if not DATA.exists():
        print(f"needs {DATA} (the shared data)", file=sys.stderr)
        return 2
    data, questions = held_out_questions()

    def answers(precision: str, weights: str | None, activations: str | None) -> dict[str, str]:
        reader = SpanBERTReader(model=str(DEMO), precision=precision, top_k=1, no_answer=False)
        with torch_linears():
            reader.warm_up()
        if weights is not None:
            round_encoder(reader, weights, activations)
        return top_answers(reader, questions)[0]

    reference = answers("fp32", None, None)
    fp32_em = score_squad(data, reference)["exact"]
    rows = [f"| fp32 (reference) | 100.0% | {fp32_em:.2f} |"]
    for label, precision, weights, activations in VARIANTS:
        texts = answers(precision, weights, activations)
        same = 100 * sum(texts[qid] == reference[qid] for qid in reference) / len(reference)
        rows.append(f"| {label} | {same:.1f}% | {score_squad(data, texts)['exact']:.2f} |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    markdown = f"""## int8 error sources: which rounding changes the demo reader's answers ({datetime.date.today()})

Machine: {machine_line()}. Command: `python benchmarks/int8_error_sources.py` (the bundled demo reader, the gold
paragraphs of its {len(questions)} held-out questions, one question per call, top answer only). Rows other than
the last two round only what they name, to int8 values multiplied in fp32, in every Linear layer of the encoder
(torch's own Linear layers throughout, oneDNN off).

| what is rounded to int8 | top answers identical to fp32 | EM |
|---|---|---|
{table}
"""
    print(markdown)
    write_section("int8-sources", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
