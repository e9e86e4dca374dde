"""Optimiser and schedule shared by fine-tuning and pre-training (SpanBERT/BERT conventions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)


def decay_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on weights, none on biases and LayerNorm parameters."""
    decay, no_decay = [], []
    seen: set[int] = set()
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad or id(parameter) in seen:
            continue
        seen.add(id(parameter))
        if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name or parameter.dim() == 1:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
                        ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate over ``warmup_steps``, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(kw_only=True)
class TrainingSettings:
    """Optimisation settings shared by fine-tuning and pre-training."""

    batch_size: int = 32
    per_device_batch_size: int | None = None
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    epochs: float = 1.0
    max_steps: int | None = None
    max_grad_norm: float = 1.0
    seed: int = 42
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    progress: bool = True
    cpu: bool = False

    def validate(self) -> None:
        """Raise ValueError for settings that cannot train (named, with the value)."""
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        output = getattr(self, "output", None)
        if output is not None and Path(output).exists() and not Path(output).is_dir():
            raise ValueError(f"output {output} is a file; pass a folder for the checkpoint")

    def batch_layout(self, processes: int = 1) -> tuple[int, int]:
        """``(per-device batch, gradient-accumulation steps)`` that make ``processes`` processes add up to
        ``batch_size`` (the per-device batch defaults to an equal share of it)."""
        per_device = self.per_device_batch_size or self.batch_size // processes
        if per_device < 1 or self.batch_size < 1:
            raise ValueError(f"batch sizes must be at least 1, got batch_size={self.batch_size}, "
                             f"per_device_batch_size={per_device}")
        if self.batch_size % (per_device * processes):
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of per_device_batch_size "
                             f"({per_device}) x processes ({processes})")
        return per_device, self.batch_size // (per_device * processes)


def process_count(settings: TrainingSettings) -> int:
    """How many training processes this launch has (``accelerate launch`` / ``torchrun``)."""
    from spanbert_reader.extras import require

    return require("accelerate", "Training").PartialState(cpu=settings.cpu).num_processes


def make_accelerator(settings: TrainingSettings, accumulation: int):
    """An ``accelerate.Accelerator`` for these settings.

    ``accelerate`` keeps one process-wide state, so one process can train with one mixed-precision setting only;
    a second run asking for another gets a ValueError that says so.
    """
    from accelerate import Accelerator

    if settings.mixed_precision == "bf16" and (settings.cpu or not torch.cuda.is_available()):
        capability = torch.backends.cpu.get_cpu_capability()
        if "AVX512" not in capability and "AMX" not in capability:
            logger.warning("bf16 on a CPU without native bf16 (capability %s) is emulated and can be far slower "
                           "than fp32; use --mixed-precision no on this machine.", capability)
    try:
        return Accelerator(mixed_precision=settings.mixed_precision, gradient_accumulation_steps=accumulation,
                           cpu=settings.cpu)
    except ValueError as exc:
        if "already been initialized" not in str(exc):
            raise
        raise ValueError(f"this process already trained with another mixed-precision setting; accelerate allows "
                         f"one per process: run mixed_precision={settings.mixed_precision!r} in a new process "
                         f"({exc})") from exc


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: CUDA allocations on a GPU, else the peak resident set size."""
    import resource

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
