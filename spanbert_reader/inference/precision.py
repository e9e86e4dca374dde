"""Choose the compute dtype for a device."""

from __future__ import annotations

import torch

from spanbert_reader.inference.settings import check_precision

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``"auto"``: bf16 on GPUs that support it, else fp16 on GPUs, fp32 on CPU and other devices."""
    check_precision(precision)
    if precision in _DTYPES:
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32
