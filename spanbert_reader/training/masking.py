"""SpanBERT's geometric span masking.

Span lengths, in whole words, are drawn from Geometric(p=0.2) truncated to [1, 10] and renormalised (mean ≈ 3.8
words). Spans start at a uniformly chosen word that is not masked yet and cover whole words, until 15% of the
block's tokens are masked (a span stops early rather than exceed the budget, and never splits a word). Adjacent
spans are merged. Each span is then replaced as a unit: 80% [MASK], 10% random tokens, 10% unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IGNORE = -100


def span_length_distribution(p: float = 0.2, max_length: int = 10) -> np.ndarray:
    """Probabilities of span lengths 1..max_length (truncated geometric, renormalised)."""
    lengths = np.arange(1, max_length + 1)
    weights = p * (1 - p) ** (lengths - 1)
    return weights / weights.sum()


@dataclass
class MaskedBlock:
    """A masked block: model inputs, MLM labels and the merged masked spans ``[start, end]`` (token positions)."""

    input_ids: np.ndarray
    labels: np.ndarray  # original id at masked positions, IGNORE elsewhere
    spans: list[tuple[int, int]]
    sampled_lengths: list[int] = field(default_factory=list)  # span lengths in words, as drawn
    replacements: list[str] = field(default_factory=list)  # per merged span: "mask" | "random" | "keep"


class SpanMasker:
    """Applies SpanBERT span masking to token blocks with word boundaries.

    Args:
        mask_id: id of ``[MASK]``.
        vocab_size: size of the vocabulary (random replacements are drawn from non-special ids).
        special_ids: ids never used as random replacements.
        mask_ratio: fraction of the block's maskable tokens to mask (0.15).
        p, max_span: the geometric distribution of span lengths in words.
    """

    def __init__(self, mask_id: int, vocab_size: int, special_ids: set[int] | None = None,
                 mask_ratio: float = 0.15, p: float = 0.2, max_span: int = 10, seed: int | None = None) -> None:
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.mask_ratio = mask_ratio
        self.lengths = np.arange(1, max_span + 1)
        self.probabilities = span_length_distribution(p, max_span)
        special = set(special_ids or ()) | {mask_id}
        self.random_pool = np.array([i for i in range(vocab_size) if i not in special], dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def __call__(self, input_ids: np.ndarray, word_ids: np.ndarray) -> MaskedBlock:
        """Mask one block. ``word_ids[i]`` is the word index of token i, or -1 for special tokens ([CLS], [SEP])."""
        input_ids = np.asarray(input_ids, dtype=np.int64)
        word_ids = np.asarray(word_ids)
        maskable = word_ids >= 0
        words = np.unique(word_ids[maskable])
        budget = int(round(self.mask_ratio * int(maskable.sum())))
        token_positions = {w: np.nonzero(word_ids == w)[0] for w in words}
        word_list = list(words)
        masked_words: set[int] = set()
        masked_tokens = 0
        sampled: list[int] = []
        attempts = 0
        while masked_tokens < budget and attempts < 10 * len(word_list) + 10:
            attempts += 1
            length = int(self.rng.choice(self.lengths, p=self.probabilities))
            anchor = int(self.rng.integers(len(word_list)))
            if word_list[anchor] in masked_words:
                continue
            sampled.append(length)
            for offset in range(length):
                if anchor + offset >= len(word_list):
                    break
                word = word_list[anchor + offset]
                if word in masked_words:
                    break
                size = len(token_positions[word])
                if masked_tokens + size > budget:
                    break
                masked_words.add(word)
                masked_tokens += size
            if masked_tokens + 1 > budget:
                break
        mask = np.zeros(input_ids.shape[0], dtype=bool)
        for word in masked_words:
            mask[token_positions[word]] = True
        spans = contiguous_spans(mask)
        labels = np.where(mask, input_ids, IGNORE)
        output = input_ids.copy()
        replacements = []
        for start, end in spans:
            draw = self.rng.random()
            if draw < 0.8:
                output[start: end + 1] = self.mask_id
                replacements.append("mask")
            elif draw < 0.9:
                output[start: end + 1] = self.rng.choice(self.random_pool, size=end - start + 1)
                replacements.append("random")
            else:
                replacements.append("keep")
        return MaskedBlock(output, labels, spans, sampled, replacements)


def contiguous_spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` runs of True in a boolean array (adjacent masked spans merge here)."""
    spans = []
    start = None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            spans.append((start, i - 1))
            start = None
    if start is not None:
        spans.append((start, len(mask) - 1))
    return spans


def sbo_targets(spans: list[tuple[int, int]], labels: np.ndarray, max_targets: int = 15
                ) -> tuple[list[int], list[int], list[int], list[int]]:
    """(left boundary, right boundary, offset in span, target id) for every masked token, at most
    ``max_targets`` per span. Boundaries are the unmasked tokens just outside the span."""
    left, right, offsets, targets = [], [], [], []
    for start, end in spans:
        for offset, position in enumerate(range(start, min(end, start + max_targets - 1) + 1)):
            left.append(start - 1)
            right.append(end + 1)
            offsets.append(offset)
            targets.append(int(labels[position]))
    return left, right, offsets, targets
