"""Optimiser and schedule shared by fine-tuning and pre-training (SpanBERT/BERT conventions)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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

    def accumulation_steps(self) -> int:
        """Gradient-accumulation steps that make ``per_device_batch_size`` add up to ``batch_size``."""
        per_device = self.per_device_batch_size or self.batch_size
        if per_device > self.batch_size or self.batch_size % per_device:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of per_device_batch_size "
                             f"({per_device})")
        return self.batch_size // per_device


def make_accelerator(settings: TrainingSettings, accumulation: int):
    """An ``accelerate.Accelerator`` for these settings.

    Accelerate keeps one process-wide state; it is reset (keeping the distributed set-up) so that several
    training runs with different mixed-precision settings can follow each other in one process.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=settings.mixed_precision, gradient_accumulation_steps=accumulation,
                       cpu=settings.cpu)


def optimisation_step(accelerator, model, optimizer, scheduler, compute_loss, max_grad_norm: float):
    """One micro-batch under ``accelerator.accumulate``: ``compute_loss()`` (a loss tensor, or an object with
    ``.loss``), backward, and at accumulation boundaries gradient clipping; returns what ``compute_loss`` gave."""
    with accelerator.accumulate(model):
        output = compute_loss()
        accelerator.backward(output if torch.is_tensor(output) else output.loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return output
