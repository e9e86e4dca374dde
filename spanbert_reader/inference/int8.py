"""int8 Linear layers for CPU inference: weights quantised once per output channel, activations quantised per
token on every call, products accumulated in int32 by ``torch._int_mm``.

One scale per token (instead of one per batch, as PyTorch's dynamic quantisation uses) keeps a token with large
activations from crushing the resolution of every other token in the batch: on the previous demo reader it raised
the share of top answers identical to fp32 from 72% to 95% (BENCHMARKS.md, "int8")."""

from __future__ import annotations

import torch
from torch import nn

from spanbert_reader.modeling.encoder import FusedProjections, SelfAttentionProjections, replace_linears

# every input takes the kernel path of more than 16 rows: shorter inputs are zero-padded to this many rows
_MIN_ROWS = 17


def int8_matmul_available() -> bool:
    """Whether this torch build multiplies int8 matrices on the CPU (``torch._int_mm``)."""
    int_mm = getattr(torch, "_int_mm", None)
    if int_mm is None:
        return False
    try:
        probe = torch.ones(_MIN_ROWS, 8, dtype=torch.int8)
        return bool((int_mm(probe, torch.ones(8, 8, dtype=torch.int8)) == 8).all())
    except RuntimeError:
        return False


def _quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (rows, K) as int8 with one symmetric scale per row (``scale`` is (rows, 1)): ``x ≈ q * scale``."""
    scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).div_(127.0)
    return (x / scale).round_().to(torch.int8), scale  # |x / scale| <= 127 by construction


class Int8Linear(nn.Module):
    """A Linear layer with int8 weights (one scale per output channel) and int8 per-token activations; takes
    and returns fp32 like the ``nn.Linear`` it was made from (:meth:`from_linear`)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        quantised, scale = _quantise_rows(weight.detach().float())  # a weight row is an output channel
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight_int8", quantised.t().contiguous())  # (in, out): _int_mm's layout
        self.register_buffer("weight_scale", scale.squeeze(1))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """The int8 counterpart of ``linear``."""
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features).float()
        count = rows.shape[0]
        if count < _MIN_ROWS:
            rows = torch.cat([rows, rows.new_zeros(_MIN_ROWS - count, self.in_features)])
        quantised, scale = _quantise_rows(rows)
        y = torch._int_mm(quantised, self.weight_int8)[:count].float()
        y.mul_(scale[:count]).mul_(self.weight_scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.view(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per token"


class Int8Projections(FusedProjections):
    """Query, key and value projections fused into one :class:`Int8Linear`, so each token's activations are
    quantised once for all three; same interface as :class:`SelfAttentionProjections`."""

    def __init__(self, projections: SelfAttentionProjections) -> None:
        super().__init__(Int8Linear(*projections.stacked_parameters()))


def quantise_to_int8(encoder: nn.Module) -> int:
    """Replace, in place, every ``nn.Linear`` under ``encoder`` by an :class:`Int8Linear` (the in-repo
    attention's query/key/value by one fused :class:`Int8Projections`); returns how many Linears were replaced."""
    return replace_linears(encoder, Int8Linear.from_linear, Int8Projections)
