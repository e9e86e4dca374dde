"""SQuAD examples → training windows, built by the same window code the reader uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanbert_reader.data.squad import SquadExample
from spanbert_reader.inference.windows import Window, WindowSettings, WindowTokenizer


@dataclass
class TrainFeature:
    """One training window with its target start/end positions (0, 0 = [CLS]: no answer in this window)."""

    input_ids: np.ndarray
    passage_offset: int
    start_position: int
    end_position: int

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


def char_span_to_tokens(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """First and last token covering characters ``[start, end)`` (None when no token does)."""
    if offsets.shape[0] == 0:
        return None
    covering = np.nonzero((offsets[:, 1] > start) & (offsets[:, 0] < end))[0]
    if covering.size == 0:
        return None
    return int(covering[0]), int(covering[-1])


UNLOCATABLE = object()  # answer_tokens: the answer of this example cannot be located


def answer_tokens(example: SquadExample, offsets: np.ndarray):
    """The answer's first and last passage token; None for an impossible question; ``UNLOCATABLE`` when the answer
    cannot be located (no offset, or no token covers it)."""
    if example.is_impossible:
        return None
    if not example.answer_starts or example.answer_starts[0] < 0:
        return UNLOCATABLE
    start = example.answer_starts[0]
    target = char_span_to_tokens(offsets, start, start + len(example.answers[0]))
    return UNLOCATABLE if target is None else target


def window_target(window: Window, target: tuple[int, int] | None) -> tuple[int, int] | None:
    """The answer's positions inside ``window`` when the window holds it whole, else None."""
    if target is None:
        return None
    first, last = window.passage_start, window.passage_start + window.passage_length - 1
    if first <= target[0] and target[1] <= last:
        return window.passage_offset + target[0] - first, window.passage_offset + target[1] - first
    return None


def build_features(examples: Sequence[SquadExample], tokenizer: WindowTokenizer, settings: WindowSettings
                   ) -> tuple[list[TrainFeature], int]:
    """Windows for every example; returns (features, examples skipped because their answer has no offset)."""
    features: list[TrainFeature] = []
    skipped = 0
    queries = tokenizer.tokenize([e.question for e in examples])
    contexts = {}
    unique = list(dict.fromkeys(e.context for e in examples))
    for text, encoded in zip(unique, tokenizer.tokenize(unique), strict=True):
        contexts[text] = encoded
    for example, query in zip(examples, queries, strict=True):
        passage = contexts[example.context]
        target = answer_tokens(example, passage.offsets)
        if target is UNLOCATABLE:
            skipped += 1
            continue
        for window in tokenizer.windows(0, query.ids, passage, settings):
            start_position, end_position = window_target(window, target) or (0, 0)
            features.append(TrainFeature(window.input_ids, window.passage_offset, start_position, end_position))
    return features, skipped


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, group: int = 50) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within groups of ``group`` batches, shuffle batches."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches: list[list[int]] = []
    span = batch_size * group
    for start in range(0, len(order), span):
        chunk = sorted(order[start: start + span].tolist(), key=lambda i: lengths[i])
        batches.extend(chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches
