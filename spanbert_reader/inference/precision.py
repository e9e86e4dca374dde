"""Choose the compute dtype for a device."""

from __future__ import annotations

import torch

from spanbert_reader.inference.settings import check_precision

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``"auto"``: bf16 on GPUs that support it, else fp16 on GPUs, fp32 on CPU and other devices."""
    check_precision(precision)
    if precision in _DTYPES:
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    """The encoder below a QA model's span head: ``bert`` of the in-repo model, the ``transformers`` model's
    ``base_model`` (also inside the ``hf`` wrapper), else the model itself."""
    inner = getattr(model, "hf", model)  # TransformersQA wraps the transformers model
    for name in ("bert", "base_model"):
        encoder = getattr(inner, name, None)
        if isinstance(encoder, torch.nn.Module) and encoder is not inner:
            return encoder
    return model


def quantize_if_asked(model: torch.nn.Module, precision: str, device: torch.device) -> torch.nn.Module:
    """``precision="int8"``: the encoder's Linear layers become int8 (weights quantised per output channel,
    activations per token on every call; the span head stays fp32), CPU only. Other precisions return ``model``
    unchanged.

    ValueError on a non-CPU device; RuntimeError when this torch build cannot multiply int8 matrices on the CPU."""
    if precision != "int8":
        return model
    if device.type != "cpu":
        raise ValueError(f"precision='int8' is int8 quantisation for the CPU only; got device {device}. Use "
                         f"'fp16' or 'bf16' on GPUs, or device='cpu'")
    from spanbert_reader.inference import int8

    if not int8.int8_matmul_available():
        raise RuntimeError("precision='int8' needs int8 matrix products on the CPU (torch._int_mm), which this "
                           "torch build lacks; use precision='fp32'")
    int8.quantise_to_int8(_encoder_of(model))
    return model


def use_onednn_if_faster(model: torch.nn.Module, precision: str, device: torch.device) -> bool:
    """fp32 on the CPU: the encoder's Linear layers run through oneDNN with packed weights
    (:mod:`spanbert_reader.inference.onednn`) when that measures faster than torch's BLAS on this machine; returns
    whether they do. Other precisions and devices are left as they are. The reader applies it to the in-repo
    model only (not to transformers-path checkpoints, nor with ``compile``)."""
    if device.type != "cpu" or precision == "int8" or resolve_precision(precision, device) != torch.float32:
        return False
    from spanbert_reader.inference import onednn

    encoder = _encoder_of(model)
    if not onednn.onednn_is_faster(encoder):
        return False
    onednn.use_onednn_linears(encoder)
    return True
