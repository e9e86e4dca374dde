"""Turn (query, passage) pairs into model windows ``[CLS] query [SEP] passage-slice [SEP]`` (or the checkpoint's
own pair template, e.g. RoBERTa's ``<s> query </s></s> passage-slice </s>``).

Passages are tokenised once with character offsets; long passages are cut into windows that overlap by
``stride`` tokens (the Hugging Face / Haystack meaning of *stride*; SpanBERT's original scripts call the
step between windows ``doc_stride`` instead: ``step = window_length - stride``). For every passage token
we also record which window gives it the most context (the BERT/SpanBERT "max context" rule), so that
overlapping windows never propose the same answer start twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowSettings:
    """How passages are cut into windows. ``stride`` is the overlap between consecutive windows in tokens."""

    max_seq_length: int = 384
    stride: int = 128
    max_query_length: int = 64

    def __post_init__(self) -> None:
        for name in ("max_seq_length", "max_query_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 0:
            raise ValueError(f"stride must be a non-negative integer (tokens of overlap), got {self.stride!r}")
        if self.passage_budget < 1:
            raise ValueError(
                f"max_seq_length={self.max_seq_length} leaves no room for passage tokens after a query of up to "
                f"max_query_length={self.max_query_length} tokens and 3 special tokens; raise max_seq_length or "
                "lower max_query_length"
            )
        if self.stride >= self.passage_budget:
            raise ValueError(
                f"stride={self.stride} (overlap between windows) must be smaller than the passage tokens a window "
                f"holds ({self.passage_budget} = max_seq_length - max_query_length - 3); lower stride"
            )

    @property
    def passage_budget(self) -> int:
        """Passage tokens a window holds when the query uses its full ``max_query_length``."""
        return self.max_seq_length - self.max_query_length - 3


@dataclass(frozen=True)
class InputTemplate:
    """Special tokens around a (query, passage) pair: ``prefix query middle passage suffix``."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]

    @property
    def special_tokens(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    @classmethod
    def bert(cls, cls_id: int, sep_id: int) -> InputTemplate:
        """``[CLS] query [SEP] passage [SEP]``."""
        return cls((cls_id,), (sep_id,), (sep_id,))

    @classmethod
    def from_backend(cls, backend, cls_id: int, sep_id: int) -> InputTemplate:
        """The template the tokenizer's post-processor applies to a pair (BERT's when it adds none)."""
        first = backend.encode("hello", add_special_tokens=False).ids
        second = backend.encode("world", add_special_tokens=False).ids
        pair = backend.encode("hello", "world", add_special_tokens=True).ids
        for i in range(len(pair) - len(first) + 1):
            if pair[i: i + len(first)] != first:
                continue
            for j in range(i + len(first), len(pair) - len(second) + 1):
                if pair[j: j + len(second)] == second:
                    template = cls(tuple(pair[:i]), tuple(pair[i + len(first): j]), tuple(pair[j + len(second):]))
                    if template.prefix and template.middle:  # the null (CLS-like) token is the first one
                        return template
        return cls.bert(cls_id, sep_id)


@dataclass
class TokenizedText:
    """Token ids of a text and, for each token, its ``[start, end)`` character span in the text."""

    ids: np.ndarray  # (n,) int64
    offsets: np.ndarray  # (n, 2) int64


@dataclass
class Window:
    """One model input: a query and a slice ``[passage_start, passage_start + passage_length)`` of a passage."""

    item: int  # index of the (query, passage) pair this window belongs to
    input_ids: np.ndarray  # (length,) int64: [CLS] query [SEP] passage slice [SEP] (or the model's template)
    query_length: int  # tokens of the (truncated) query
    passage_start: int  # index of the slice's first token within the passage
    passage_length: int  # tokens of the passage in this window
    max_context: np.ndarray  # (passage_length,) bool: this window is the token's max-context window
    passage_offset: int  # position in ``input_ids`` of the first passage token

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])

    def token_type_ids(self) -> np.ndarray:
        """Segment ids: 0 for [CLS] query [SEP], 1 for the passage and the final [SEP]."""
        types = np.ones(self.length, dtype=np.int64)
        types[: self.passage_offset] = 0
        return types


class WindowTokenizer:
    """Tokenises queries and passages with a fast (Rust) tokenizer and builds :class:`Window` objects.

    Args:
        tokenizer: a ``transformers`` fast tokenizer (or anything with ``backend_tokenizer`` and
            ``cls_token_id`` / ``sep_token_id`` / ``pad_token_id``).
    """

    def __init__(self, tokenizer) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; a tokenizers-backed tokenizer is needed for "
                "character offsets"
            )
        # A private copy without truncation/padding, so the caller's tokenizer settings never change ours.
        self.backend = Tokenizer.from_str(backend.to_str())
        self.backend.no_truncation()
        self.backend.no_padding()
        self.cls_id = int(tokenizer.cls_token_id)
        self.sep_id = int(tokenizer.sep_token_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.template = InputTemplate.from_backend(backend, self.cls_id, self.sep_id)

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        """Tokenise many texts at once (in parallel in Rust) without special tokens."""
        encodings = self.backend.encode_batch(list(texts), add_special_tokens=False)
        result = []
        for text, encoding in zip(texts, encodings, strict=True):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
            result.append(TokenizedText(ids, trim_offsets(text, offsets)))
        return result

    def windows(self, item: int, query_ids: np.ndarray, passage: TokenizedText,
                settings: WindowSettings) -> list[Window]:
        """All windows of one (query, passage) pair; an empty passage gives none."""
        return build_windows(item, query_ids[: settings.max_query_length], passage.ids, settings,
                             self.cls_id, self.sep_id, self.template)


def pad_windows(windows: Sequence, pad_id: int, pad_to_multiple: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask, token_type_ids)`` for windows padded to the longest (or to a multiple of
    ``pad_to_multiple``); anything with ``input_ids``, ``length`` and ``passage_offset`` is a window here."""
    longest = max(w.length for w in windows)
    if pad_to_multiple:
        longest = -(-longest // pad_to_multiple) * pad_to_multiple
    ids = np.full((len(windows), longest), pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : window.length] = window.input_ids
        mask[row, : window.length] = 1
        types[row, window.passage_offset: window.length] = 1
    return ids, mask, types


def trim_offsets(text: str, offsets: np.ndarray) -> np.ndarray:
    """Character spans without leading/trailing whitespace (byte-level BPE tokens such as RoBERTa's carry the
    space before a word; WordPiece offsets are unchanged), so an answer never starts or ends with a space."""
    trimmed = offsets.copy()
    for row, (start, end) in enumerate(offsets):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        trimmed[row] = (start, end)
    return trimmed


def window_starts(n_tokens: int, capacity: int, stride: int) -> list[int]:
    """Start indices of windows of ``capacity`` tokens over ``n_tokens`` tokens, overlapping by ``stride``."""
    if n_tokens <= 0:
        return []
    step = capacity - stride
    starts = [0]
    while starts[-1] + capacity < n_tokens:
        starts.append(starts[-1] + step)
    return starts


def max_context_owner(n_tokens: int, starts: Sequence[int], capacity: int) -> np.ndarray:
    """For each token, the index of the window in which it has the most context on both sides.

    Score of token ``t`` in a window ``[s, s+len)`` is ``min(t - s, s + len - 1 - t) + 0.01 * len`` (BERT's
    ``_check_is_max_context``); ties go to the earlier window.
    """
    best_score = np.full(n_tokens, -np.inf)
    owner = np.zeros(n_tokens, dtype=np.int64)
    for index, start in enumerate(starts):
        end = min(start + capacity, n_tokens)
        length = end - start
        positions = np.arange(start, end)
        score = np.minimum(positions - start, end - 1 - positions) + 0.01 * length
        better = score > best_score[start:end]
        best_score[start:end] = np.where(better, score, best_score[start:end])
        owner[start:end] = np.where(better, index, owner[start:end])
    return owner


def build_windows(item: int, query_ids: np.ndarray, passage_ids: np.ndarray, settings: WindowSettings,
                  cls_id: int, sep_id: int, template: InputTemplate | None = None) -> list[Window]:
    """Cut one passage into windows for an already truncated query (BERT's template unless one is given)."""
    template = template or InputTemplate.bert(cls_id, sep_id)
    n_tokens = int(passage_ids.shape[0])
    query_length = int(query_ids.shape[0])
    capacity = settings.max_seq_length - query_length - template.special_tokens
    if capacity < 1:
        raise ValueError(f"max_seq_length={settings.max_seq_length} leaves no passage tokens after a {query_length}-"
                         f"token query and {template.special_tokens} special tokens")
    if settings.stride >= capacity:
        raise ValueError(f"stride={settings.stride} must be smaller than the {capacity} passage tokens a window holds")
    starts = window_starts(n_tokens, capacity, settings.stride)
    owner = max_context_owner(n_tokens, starts, capacity)
    head = np.concatenate([template.prefix, query_ids, template.middle]).astype(np.int64)
    tail = np.asarray(template.suffix, dtype=np.int64)
    windows = []
    for index, start in enumerate(starts):
        end = min(start + capacity, n_tokens)
        windows.append(Window(
            item=item,
            input_ids=np.concatenate([head, passage_ids[start:end], tail]),
            query_length=query_length,
            passage_start=start,
            passage_length=end - start,
            max_context=owner[start:end] == index,
            passage_offset=int(head.shape[0]),
        ))
    return windows
