"""The one training loop shared by fine-tuning and pre-training.

Examples reach the model through a ``DataLoader`` with a length-grouped batch sampler, prepared by
``accelerate``: under a multi-process launch each process gets its own shard of the batches. ``batch_size`` is
the effective batch of all processes together, so gradient accumulation is ``batch_size / (per-device batch ×
processes)`` and the number of optimiser steps, hence the learning-rate curve, does not depend on the process
count. The scheduler is stepped once per optimiser step by this loop (it is not handed to ``accelerate``, whose
wrapper would step it once per process). Progress shows on the main process only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from spanbert_reader.training.config import TrainingSettings
from spanbert_reader.training.features import length_grouped_batches

EXAMPLE_INDEX = "example_index"  # batch key carrying the dataset positions of the batch's examples


class LengthGroupedBatchSampler(torch.utils.data.Sampler):
    """Shuffled batches of examples of similar length; set :attr:`epoch` to reshuffle."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def __iter__(self):
        return iter(length_grouped_batches(self.lengths, self.batch_size, self.seed + self.epoch))

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


@dataclass
class LoopState:
    """Where training stands; saved with the resumable state."""

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of the current epoch this process has consumed
    history: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # what the caller keeps (best dev metrics, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        return cls(**data)


@dataclass
class LoopStats:
    """What this run of the loop did on this process."""

    steps: int = 0
    tokens: int = 0
    examples: int = 0
    first_epoch_examples: set[int] = field(default_factory=set)
    wall_time_s: float = 0.0


@dataclass
class Plan:
    """Batch sizes and step counts for a dataset under the current process count."""

    per_device: int
    accumulation: int
    processes: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int


def make_plan(settings: TrainingSettings, examples: int, processes: int, per_device: int, accumulation: int
              ) -> Plan:
    """Step counts for ``examples`` read ``per_device`` at a time on each process, ``accumulation`` batches per
    optimiser step (the accelerator's)."""
    batches = math.ceil(examples / per_device)
    steps_per_epoch = max(1, math.ceil(batches / (accumulation * processes)))
    total = settings.max_steps or max(1, math.ceil(settings.epochs * steps_per_epoch))
    return Plan(per_device, accumulation, processes, steps_per_epoch, total, int(settings.warmup_ratio * total))


def make_loader(items: Sequence[Any], lengths: Sequence[int], batch_size: int, seed: int,
                collate: Callable[[list[Any]], dict[str, torch.Tensor]]):
    """A DataLoader over ``items`` with length-grouped batches; each batch also carries the items' positions."""
    sampler = LengthGroupedBatchSampler(lengths, batch_size, seed)

    def collate_indices(indices: list[int]) -> dict[str, torch.Tensor]:
        batch = collate([items[i] for i in indices])
        batch[EXAMPLE_INDEX] = torch.tensor(indices, dtype=torch.long)
        return batch

    # its own generator: starting an epoch must not draw from the global RNG (dropout), or a resumed run would
    # diverge from an uninterrupted one
    loader = torch.utils.data.DataLoader(range(len(items)), batch_sampler=sampler, collate_fn=collate_indices,
                                         generator=torch.Generator().manual_seed(seed))
    return loader, sampler


def run_loop(accelerator, model, optimizer, scheduler, loader, sampler: LengthGroupedBatchSampler,
             compute_loss: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]],
             *, total_steps: int, state: LoopState, max_grad_norm: float, desc: str, progress: bool = True,
             stop_after: int | None = None, on_step: Callable[[LoopState], None] | None = None,
             on_epoch_end: Callable[[LoopState], None] | None = None) -> LoopStats:
    """Train until ``total_steps`` optimiser steps (or ``stop_after`` in this run).

    ``loader`` must be prepared by ``accelerator``; ``compute_loss(batch)`` returns the loss to optimise and
    named parts to log. ``state.history`` gets one entry per step: the loss parts (mean over the step's
    micro-batches and processes) and the learning rate.
    """
    from tqdm.auto import tqdm

    accumulation = accelerator.gradient_accumulation_steps
    bar = tqdm(total=total_steps, initial=state.global_step, desc=desc, unit="step",
               disable=not progress or not accelerator.is_main_process)
    stats = LoopStats()
    started = time.perf_counter()
    running: dict[str, float] = {}

    def finished() -> bool:
        return state.global_step >= total_steps or bool(stop_after and stats.steps >= stop_after)

    while not finished():
        sampler.epoch = state.epoch
        batches = accelerator.skip_first_batches(loader, state.batch_in_epoch) if state.batch_in_epoch else loader
        for batch in batches:
            indices = batch.pop(EXAMPLE_INDEX)
            with accelerator.accumulate(model):
                loss, parts = compute_loss(batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            stats.examples += len(indices)
            if state.epoch == 0:
                stats.first_epoch_examples.update(indices.tolist())
            if "attention_mask" in batch:
                stats.tokens += int(batch["attention_mask"].sum())
            for name, value in {"loss": loss, **parts}.items():
                running[name] = running.get(name, 0.0) + float(value.detach()) / accumulation
            state.batch_in_epoch += 1
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            state.global_step += 1
            stats.steps += 1
            names = sorted(running)
            averaged = accelerator.reduce(torch.tensor([running[n] for n in names], device=accelerator.device),
                                          reduction="mean")
            entry = {n: float(v) for n, v in zip(names, averaged.tolist(), strict=True)}
            entry.update(step=state.global_step, lr=scheduler.get_last_lr()[0])
            state.history.append(entry)
            running = {}
            bar.set_postfix(loss=f"{entry['loss']:.4f}", lr=f"{entry['lr']:.2e}")
            bar.update(1)
            if on_step:
                on_step(state)
            if finished():
                break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
            if on_epoch_end:
                on_epoch_end(state)
    bar.close()
    stats.wall_time_s = time.perf_counter() - started
    return stats


def process_report(accelerator, model, stats: LoopStats) -> dict[str, Any]:
    """Across processes: how many there were, examples and tokens each saw, first-epoch examples seen by more
    than one process, and a checksum of each process's parameters (equal when gradients were synchronised)."""
    from accelerate.utils import gather_object

    checksum = float(sum(p.detach().double().sum() for p in accelerator.unwrap_model(model).parameters()))
    seen = gather_object([sorted(stats.first_epoch_examples)])
    counts = gather_object([stats.examples])
    tokens = gather_object([stats.tokens])
    checksums = gather_object([checksum])
    owners: dict[int, int] = {}
    for examples in seen:
        for index in examples:
            owners[index] = owners.get(index, 0) + 1
    return {"processes": accelerator.num_processes, "examples_per_process": counts, "tokens_per_process": tokens,
            "first_epoch_overlap": sum(1 for n in owners.values() if n > 1),
            "parameter_checksums": checksums}
