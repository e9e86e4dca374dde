"""Span decoding: the one implementation shared by the reader, evaluation and training's dev evaluation.

Per window every valid span is scored exactly (no top-n start × top-n end pruning) and the
``n_best_per_window`` best are kept; a span is valid when both ends lie in the passage, ``end >= start``, it
is at most ``max_answer_length`` tokens long and its start token has its maximal context in this window (so
overlapping windows never count a start twice). The span's
logit is ``start_logit + end_logit``; the window's null logit is the same sum at ``[CLS]`` (position 0).
Candidates of all windows of a passage are merged (identical spans keep their best logit) and the passage's
null logit is the minimum over its windows (SQuAD 2.0 rule).

Ranking answers across passages (retriever fusion, aggregation), scores and the no-answer rule live in
:mod:`spanbert_reader.inference.ranking`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spanbert_reader.inference.windows import Window


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding limits. ``max_answer_length`` (tokens) may be None for no limit."""

    n_best_per_window: int = 20
    max_answer_length: int | None = 30
    max_context_only: bool = True  # False: every window proposes starts (as TransformersExtractiveReader)

    def __post_init__(self) -> None:
        if not isinstance(self.n_best_per_window, int) or self.n_best_per_window < 1:
            raise ValueError(f"n_best_per_window must be a positive integer, got {self.n_best_per_window!r}")
        if self.max_answer_length is not None and (
            not isinstance(self.max_answer_length, int) or self.max_answer_length < 1
        ):
            raise ValueError(f"max_answer_length must be a positive integer or None, got {self.max_answer_length!r}")


@dataclass(frozen=True)
class TokenSpan:
    """A candidate answer in passage-token coordinates (``end`` inclusive) with its logit."""

    start: int
    end: int
    logit: float


def window_spans(start_logits: np.ndarray, end_logits: np.ndarray, window: Window,
                 settings: DecodeSettings) -> tuple[list[TokenSpan], float]:
    """The best valid spans of one window (passage coordinates, best first) and the window's null logit.

    Exact: every (start, end) pair allowed by the rules is scored, so the best span is never pruned away
    (``n_best_per_window`` only limits how many are kept). Cost is ``passage_length × max_answer_length``.
    """
    offset, length = window.passage_offset, window.passage_length
    null_logit = float(start_logits[0] + end_logits[0])
    if length == 0:
        return [], null_logit
    starts = np.asarray(start_logits[offset: offset + length], dtype=np.float64)
    ends = np.asarray(end_logits[offset: offset + length], dtype=np.float64)
    if settings.max_context_only:
        starts = np.where(window.max_context, starts, -np.inf)
    span_width = length if settings.max_answer_length is None else min(settings.max_answer_length, length)
    end_index = np.arange(length)[:, None] + np.arange(span_width)[None, :]  # (start, width) -> end token
    padded_ends = np.concatenate([ends, np.full(span_width, -np.inf)])
    scores = (starts[:, None] + padded_ends[end_index]).ravel()
    count = min(settings.n_best_per_window, int(np.isfinite(scores).sum()))
    if count == 0:
        return [], null_logit
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    rows, widths = np.divmod(best, span_width)
    shift = window.passage_start
    spans = [TokenSpan(int(r) + shift, int(r + w) + shift, float(scores[b]))
             for r, w, b in zip(rows, widths, best, strict=True)]
    return spans, null_logit


class PassageDecoder:
    """Collects the spans of all windows of many passages (items) and merges them per passage."""

    def __init__(self, n_items: int, settings: DecodeSettings) -> None:
        self.settings = settings
        self._spans: list[dict[tuple[int, int], float]] = [{} for _ in range(n_items)]
        self._null: list[float] = [math.inf] * n_items

    def add(self, window: Window, start_logits: np.ndarray, end_logits: np.ndarray) -> None:
        """Decode one window's logits (the row may carry padding beyond ``window.length``)."""
        spans, null_logit = window_spans(start_logits, end_logits, window, self.settings)
        merged = self._spans[window.item]
        for span in spans:
            key = (span.start, span.end)
            if span.logit > merged.get(key, -math.inf):
                merged[key] = span.logit
        self._null[window.item] = min(self._null[window.item], null_logit)

    def spans(self, item: int) -> list[TokenSpan]:
        """All merged spans of a passage, best first."""
        merged = self._spans[item]
        return sorted((TokenSpan(s, e, logit) for (s, e), logit in merged.items()), key=lambda t: -t.logit)

    def null_logit(self, item: int) -> float | None:
        """Minimum null logit over the passage's windows (None if it had no window)."""
        value = self._null[item]
        return None if math.isinf(value) else value


@dataclass(frozen=True)
class CharSpan:
    """A candidate answer in character coordinates of passage ``passage`` (``end`` exclusive).

    ``logit`` is the reader's span logit (start + end); ``score`` the logit answers are ranked by (the reader
    logit, plus the retriever bonus and same-text aggregation when :mod:`.ranking` applies them); ``count`` how
    many spans with the same text were aggregated into this one.
    """

    passage: int
    start: int
    end: int
    logit: float
    score: float = math.nan
    count: int = 1

    def __post_init__(self) -> None:
        if math.isnan(self.score):
            object.__setattr__(self, "score", self.logit)


def overlap_fraction_exceeds(a: CharSpan, b: CharSpan, threshold: float) -> bool:
    """True when ``a`` and ``b`` (same passage) overlap by more than ``threshold`` of either one's length.

    Same rule as ``TransformersExtractiveReader.deduplicate_by_overlap``.
    """
    if a.passage != b.passage or not (a.start <= b.end and b.start <= a.end):
        return False
    overlap = min(a.end - a.start, a.end - b.start, b.end - a.start, b.end - b.start)
    if overlap <= 0:
        return False
    return overlap / (a.end - a.start) > threshold or overlap / (b.end - b.start) > threshold


def to_char_spans(passage: int, spans: Sequence[TokenSpan], offsets: np.ndarray) -> list[CharSpan]:
    """Map token spans to character spans with the passage's token offsets (empty spans are dropped)."""
    result = []
    for span in spans:
        start = int(offsets[span.start, 0])
        end = int(offsets[span.end, 1])
        if end > start:
            result.append(CharSpan(passage, start, end, span.logit))
    return result
