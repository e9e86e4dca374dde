"""Run windows through a span model in length-sorted batches, padded only to each batch's longest window."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from spanbert_reader.inference.cpu_workers import balanced_split, run_parallel, worker_count
from spanbert_reader.inference.windows import Window, pad_windows

logger = logging.getLogger(__name__)


def make_batches(lengths: Sequence[int], batch_size: int, max_tokens_per_batch: int | None = None
                 ) -> list[list[int]]:
    """Group window indices into batches of similar length, longest first.

    A batch holds at most ``batch_size`` windows and, when ``max_tokens_per_batch`` is set, at most that many
    padded tokens (``len(batch) * longest``); a single window longer than the budget still gets its own batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_tokens_per_batch is not None and max_tokens_per_batch < 1:
        raise ValueError(f"max_tokens_per_batch must be >= 1 or None, got {max_tokens_per_batch}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        longest_if_added = max(longest, lengths[index])
        too_many = len(current) >= batch_size
        too_big = max_tokens_per_batch is not None and (len(current) + 1) * longest_if_added > max_tokens_per_batch
        if current and (too_many or too_big):
            batches.append(current)
            current, longest_if_added = [], lengths[index]
        current.append(index)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


@dataclass
class BatchResult:
    """Logits for some windows: rows follow ``indices``; columns beyond a window's length are padding."""

    indices: list[int]
    start_logits: np.ndarray  # (B, L) float32
    end_logits: np.ndarray  # (B, L) float32


def is_out_of_memory(error: BaseException) -> bool:
    """True for an accelerator out-of-memory error (the kind a smaller batch fixes)."""
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class WindowRunner:
    """Feeds windows to a span model (anything returning ``start_logits`` / ``end_logits``).

    With ``packed`` (the default when the model has ``forward_packed``) a batch's windows are concatenated
    without padding; otherwise each batch is padded to its own longest window. On the CPU a batch is split into
    ``cpu_workers`` parts of about equal length, run as single-threaded passes side by side
    (:mod:`spanbert_reader.inference.cpu_workers`; None: as many as torch's intra-op threads, 1: one pass on
    torch's thread pool). The answers are the same either way.

    On an out-of-memory error the batch is halved and retried (same answers), and later batches use the
    smaller size; this is logged once per runner.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, pad_id: int,
                 use_token_type_ids: bool = True, packed: bool | None = None,
                 pad_to_multiple: int | None = None, cpu_workers: int | None = None) -> None:
        self.model = model
        self.cpu_workers = cpu_workers  # CPU: single-threaded passes side by side (None: torch's thread count)
        worker_count(cpu_workers)  # validates
        self.pad_to_multiple = pad_to_multiple  # padded path: round lengths up (few shapes for torch.compile)
        # Packed (unpadded) execution when the model supports it: no compute is spent on padding.
        self.packed = hasattr(model, "forward_packed") if packed is None else packed
        if self.packed and not hasattr(model, "forward_packed"):
            raise ValueError(f"{type(model).__name__} has no forward_packed; use packed=False")
        self.device = torch.device(device)
        self.pad_id = pad_id
        self.use_token_type_ids = use_token_type_ids
        self.batch_size_cap: int | None = None  # lowered after an out-of-memory error
        self._warned_oom = False

    def _tensors(self, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
        input_ids, attention, types = pad_windows(windows, self.pad_id, self.pad_to_multiple)
        if not self.use_token_type_ids:
            types[:] = 0
        arrays = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": types}
        return {name: self._to_device(array) for name, array in arrays.items()}

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def _forward_packed(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        from spanbert_reader.modeling.encoder import PackedLayout

        lengths = [w.length for w in windows]
        input_ids = np.concatenate([w.input_ids for w in windows])
        positions = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])
        if self.use_token_type_ids:
            types = np.concatenate([w.token_type_ids() for w in windows])
        else:
            types = np.zeros_like(input_ids)
        layout = PackedLayout.from_lengths(lengths, self.device)
        with torch.inference_mode():
            output = self.model.forward_packed(self._to_device(input_ids), self._to_device(types),
                                               self._to_device(positions), layout)
        flat_start = output.start_logits.float().cpu().numpy()
        flat_end = output.end_logits.float().cpu().numpy()
        start = np.zeros((len(windows), max(lengths)), dtype=np.float32)
        end = np.zeros_like(start)
        offset = 0
        for row, n in enumerate(lengths):
            start[row, :n] = flat_start[offset: offset + n]
            end[row, :n] = flat_end[offset: offset + n]
            offset += n
        return start, end

    def _forward(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        workers = worker_count(self.cpu_workers) if self.device.type == "cpu" else 1
        if workers < 2 or len(windows) < 2:
            return self._forward_one(windows)
        groups = balanced_split([w.length for w in windows], workers)
        results = run_parallel([partial(self._forward_one, [windows[i] for i in g]) for g in groups], workers)
        start = np.zeros((len(windows), max(r[0].shape[1] for r in results)), dtype=np.float32)
        end = np.zeros_like(start)
        for group, (group_start, group_end) in zip(groups, results, strict=True):
            width = group_start.shape[1]
            start[group, :width] = group_start
            end[group, :width] = group_end
        return start, end

    def _forward_one(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        if self.packed:
            return self._forward_packed(windows)
        tensors = self._tensors(windows)
        with torch.inference_mode():
            output = self.model(tensors["input_ids"], tensors["attention_mask"], tensors["token_type_ids"])
        start = output.start_logits.float().cpu().numpy()
        end = output.end_logits.float().cpu().numpy()
        return start, end

    def _forward_with_backoff(self, windows: Sequence[Window], indices: list[int]) -> Iterator[BatchResult]:
        if self.batch_size_cap is not None and len(windows) > self.batch_size_cap:
            cap = self.batch_size_cap  # may shrink again inside the loop; chunks keep this size
            for start in range(0, len(windows), cap):
                stop = start + cap
                yield from self._forward_with_backoff(windows[start:stop], indices[start:stop])
            return
        try:
            start_logits, end_logits = self._forward(windows)
        except (torch.OutOfMemoryError, RuntimeError) as error:
            if not is_out_of_memory(error) or len(windows) == 1:
                raise
            failed_size = len(windows)
            del error  # the exception holds the failed batch's frames (and activations) alive
        else:
            yield BatchResult(indices, start_logits, end_logits)
            return
        # retried outside the except block, so the failed batch's memory is released first
        self.batch_size_cap = failed_size // 2
        if not self._warned_oom:
            logger.warning("Out of memory with a batch of %d windows; retrying with batches of %d.",
                           failed_size, self.batch_size_cap)
            self._warned_oom = True
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        yield from self._forward_with_backoff(windows, indices)

    def run(self, windows: Sequence[Window], batch_size: int, max_tokens_per_batch: int | None = None
            ) -> Iterator[BatchResult]:
        """Yield logits batch by batch (in length order, not input order: use ``BatchResult.indices``)."""
        if not windows:
            return
        size = min(batch_size, self.batch_size_cap) if self.batch_size_cap else batch_size
        for batch in make_batches([w.length for w in windows], size, max_tokens_per_batch):
            yield from self._forward_with_backoff([windows[i] for i in batch], batch)
