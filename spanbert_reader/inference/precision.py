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


def _quantized_engines() -> list[str]:
    """The quantised CPU engines of this torch build (fbgemm, x86, qnnpack, ...)."""
    return [e for e in torch.backends.quantized.supported_engines if e != "none"]


def quantize_if_asked(model: torch.nn.Module, precision: str, device: torch.device) -> torch.nn.Module:
    """``precision="int8"``: dynamic int8 quantisation of the encoder's Linear layers (weights int8, activations
    quantised per batch; the span head stays fp32), CPU only. Other precisions return ``model`` unchanged.

    ValueError on a non-CPU device; RuntimeError when this torch build has no quantised CPU engine."""
    if precision != "int8":
        return model
    if device.type != "cpu":
        raise ValueError(f"precision='int8' is dynamic int8 quantisation, which runs on the CPU only; got device "
                         f"{device}. Use 'fp16' or 'bf16' on GPUs, or device='cpu'")
    engines = _quantized_engines()
    if not engines:
        raise RuntimeError("precision='int8' needs a quantised CPU engine (fbgemm, x86 or qnnpack), and this torch "
                           "build has none; use precision='fp32'")
    if torch.backends.quantized.engine == "none":
        torch.backends.quantized.engine = engines[0]
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    encoder = getattr(model, "bert", None) or getattr(model, "base_model", None) or model
    # one scale per output channel: per-tensor scales cost the demo reader 6 EM points
    quantize_dynamic(encoder, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return model
