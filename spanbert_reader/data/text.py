"""Text rules in one place: SQuAD answer normalisation (metrics, answer aggregation, tests) and the check that a
question is real text (the reader, the server and ``ask``); and whether an answer occurs in a passage (answer
recall, training negatives)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_occurs(answers: Sequence[str], passages: Sequence[str]) -> bool:
    """Whether a normalised gold answer occurs, as whole words, in a normalised passage."""
    golds = [f" {normalize_answer(a)} " for a in answers if normalize_answer(a)]
    texts = [f" {normalize_answer(p)} " for p in passages]
    return any(g in t for g in golds for t in texts)


def check_text(text: str, name: str = "question") -> str:
    """``text`` unchanged when it is non-blank and encodable as UTF-8; ValueError naming ``name`` otherwise."""
    if not text.strip():
        raise ValueError(f"{name} is empty or whitespace; pass the question to answer")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not valid Unicode text (a lone surrogate at position {exc.start}); pass UTF-8 "
                         "text") from None
    return text
