"""Setting a training run up and summing it up: processes, batch layout, the accelerator, seeds, the optimiser and
schedule prepared for the devices, and the summary both commands write (shared by fine-tuning and pre-training)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import torch

from spanbert_reader.training.config import TrainingSettings
from spanbert_reader.training.optim import decay_parameter_groups, linear_warmup_decay

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def process_count(settings: TrainingSettings) -> int:
    """How many training processes this launch has (``accelerate launch`` / ``torchrun``)."""
    import os

    from spanbert_reader.extras import require

    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if launched > 1 and not settings.cpu and not torch.cuda.is_available():
        raise ValueError(f"{launched} processes were launched (torchrun / accelerate launch) on a machine without a "
                         "GPU: pass --cpu so that they join one training job instead of racing each other into "
                         "one output folder")
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


@dataclass
class TrainingRun:
    """One launch: how many processes, the per-device batch and accumulation, and the accelerator."""

    processes: int
    per_device: int
    accumulation: int
    accelerator: Any


def start_run(settings: TrainingSettings) -> TrainingRun:
    """Check the settings, lay out batches over this launch's processes, make the accelerator and seed."""
    settings.validate()
    processes = process_count(settings)
    per_device, accumulation = settings.batch_layout(processes)
    accelerator = make_accelerator(settings, accumulation)
    seed_everything(settings.seed)
    return TrainingRun(processes, per_device, accumulation, accelerator)


def prepare_optimisation(run: TrainingRun, settings: TrainingSettings, model, loader, plan):
    """AdamW (no decay on biases and LayerNorm) with linear warm-up and decay over ``plan``, all prepared for the
    run's devices; returns ``(model, optimizer, scheduler, loader)``."""
    optimizer = torch.optim.AdamW(decay_parameter_groups(model, settings.weight_decay), lr=settings.learning_rate)
    scheduler = linear_warmup_decay(optimizer, plan.warmup_steps, plan.total_steps)
    model, optimizer, loader = run.accelerator.prepare(model, optimizer, loader)
    return model, optimizer, scheduler, loader


def run_summary(run: TrainingRun, model, stats, state, plan, settings: TrainingSettings, **extra: Any
                ) -> dict[str, Any]:
    """What a finished run reports (steps, throughput, memory, plan, per-process figures, config, history)."""
    from spanbert_reader.training.loop import process_report

    elapsed = stats.wall_time_s
    report = process_report(run.accelerator, model, stats)
    return {"steps": state.global_step, "wall_time_s": elapsed,
            "steps_per_s": stats.steps / elapsed if elapsed else None,
            "tokens_per_s": sum(report["tokens_per_process"]) / elapsed if elapsed else None,
            "peak_memory_mb": peak_memory_mb(run.accelerator.device), **extra, "plan": asdict(plan), **report,
            "config": asdict(settings), "history": state.history}
