"""fp32 Linear layers through oneDNN, for CPU inference: each weight is packed once into oneDNN's blocked layout
and every product runs as one oneDNN inner product (``torch.ops.mkldnn._linear_pointwise``, the kernel PyTorch's
own compiler uses for frozen CPU models).

Plain ``nn.Linear`` runs through the BLAS torch was built with (MKL on x86). On some CPUs that BLAS is far from
the hardware's speed: on an AMD EPYC with AVX-512 (BENCHMARKS.md, "Linear layers on CPU") MKL's fp32 products
ran at 110-117 GFLOP/s on one thread where oneDNN's ran at 255-262. The arithmetic is the same fp32 with fp32
accumulation; only the order of the sums differs (outputs agree to about 1e-6 relative).

:func:`onednn_is_faster` measures both on the model's own shapes, and the reader uses oneDNN only where it is
faster, so a CPU whose BLAS is already fast keeps ``nn.Linear``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from spanbert_reader.modeling.encoder import FusedProjections, Layer, replace_linears


def onednn_linear_available() -> bool:
    """Whether this torch build runs packed oneDNN inner products on the CPU (and they give ``nn.Linear``'s
    results)."""
    ops = getattr(torch.ops, "mkldnn", None)
    if ops is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=generator) for shape in ((5, 24), (16, 24), (16,)))
        y = ops._linear_pointwise(x, ops._reorder_linear_weight(w), b, "none", [], "")
    except (RuntimeError, AttributeError, TypeError):
        return False
    return bool(torch.allclose(y, nn.functional.linear(x, w, b), rtol=1e-4, atol=1e-4))


class OneDNNLinear(nn.Module):
    """An fp32 Linear layer with its weight packed for oneDNN (:meth:`from_linear`); same inputs and outputs as
    the ``nn.Linear`` it was made from, followed by the exact (erf) GELU inside the same kernel when ``gelu``.
    Inference only (no gradients)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, gelu: bool = False) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.gelu = gelu
        # plain attributes, not buffers: a packed oneDNN tensor has no storage for state_dict or .to() to move
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().float().contiguous())
        self.bias = None if bias is None else bias.detach().float().contiguous()

    @classmethod
    def from_linear(cls, linear: nn.Linear, gelu: bool = False) -> OneDNNLinear:
        """The oneDNN counterpart of ``linear`` (then GELU, when ``gelu``)."""
        return cls(linear.weight, linear.bias, gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        post_op, algorithm = ("gelu", "none") if self.gelu else ("none", "")
        y = torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, post_op, [], algorithm)
        return y.view(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        gelu = ", then GELU" if self.gelu else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, oneDNN packed{gelu}"


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _fp32_on_cpu(linear: nn.Module) -> bool:
    return type(linear) is nn.Linear and linear.weight.dtype == torch.float32 and linear.weight.device.type == "cpu"


def _linears(module: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    return [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
            if type(child) is nn.Linear]


def onednn_is_faster(module: nn.Module, rows: int = 512, repeats: int = 7, margin: float = 1.1) -> bool:
    """Whether oneDNN runs ``module``'s largest fp32 Linear layer at least ``margin`` times as fast as
    ``nn.Linear`` on ``rows`` tokens, here and now (best of ``repeats``; a few milliseconds)."""
    linears = [child for _, _, child in _linears(module) if child.weight.dtype == torch.float32]
    if not linears or not onednn_linear_available():
        return False
    largest = max(linears, key=lambda linear: linear.weight.numel())
    fast = OneDNNLinear.from_linear(largest)
    x = torch.randn(rows, largest.in_features)

    def best(run) -> float:
        run(x)  # first call: kernel selection
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - started)
        return min(times)

    with torch.inference_mode():
        return best(largest) >= margin * best(fast)


def use_onednn_linears(module: nn.Module) -> int:
    """Replace, in place, every fp32 ``nn.Linear`` under ``module`` by a :class:`OneDNNLinear`: the in-repo
    attention's query/key/value as one fused product, and each in-repo layer's feed-forward GELU inside its first
    product. Returns how many Linear layers were replaced."""
    fused_gelu = 0
    for layer in list(module.modules()):
        if isinstance(layer, Layer) and layer.act is F.gelu and _fp32_on_cpu(layer.intermediate.dense):
            layer.intermediate.dense = OneDNNLinear.from_linear(layer.intermediate.dense, gelu=True)
            layer.act = _identity
            fused_gelu += 1
    return fused_gelu + replace_linears(module, OneDNNLinear.from_linear,
                                        lambda projections: FusedProjections(
                                            OneDNNLinear(*projections.stacked_parameters())),
                                        accept=_fp32_on_cpu)
