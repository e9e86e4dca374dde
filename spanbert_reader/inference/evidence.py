"""Lexical evidence that a passage answers a question: how many of the question's content words the passage, the
answer's sentence and the words around the answer hold, and how much of the answer merely repeats the question.

These are calibration features (:mod:`spanbert_reader.inference.calibration`): a reader's span logits say which
span of a passage fits best, not whether the passage is about the question at all, and the commonest failure of
open-domain QA is a best answer from passages that never held it. Every value is a share in [0, 1] (or a log
count), whatever the corpus, unlike a raw retriever score.

Words are ``\\w+`` runs, lower-cased and cut to their first :data:`STEM` characters (a crude stemmer:
"founded" and "founding" match). English function words are not content words; in other languages every word
counts, which makes the shares smaller but still comparable within that language.
"""

from __future__ import annotations

import math
import re

STEM = 5
WINDOW = 25  # words each side of the answer
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?]\s|\n")
STOPWORDS = frozenset("""
a an the of in on at to for from by with as and or but not no nor is are was were be been being am do does did done
has have had having what which who whom whose when where why how that this these those it its they them their there
here than then so such can could would should will shall may might must into onto over under about after before
during between through up down out off again also any each few more most other some very s t just own same too both
all i me my we our you your he him his she her one
""".split())
NAMES = ("question_coverage", "sentence_coverage", "window_coverage", "answer_in_question", "log_answer_words")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _content(words: list[str]) -> set[str]:
    return {w[:STEM] for w in words if w not in STOPWORDS}


class QuestionEvidence:
    """The question's content words, computed once, measured against each answer of a prediction."""

    def __init__(self, question: str) -> None:
        self.words = _content(_words(question))
        self._passages: dict[str, float] = {}  # coverage of each passage seen: its answers share it

    def coverage(self, text: str) -> float:
        """Share of the question's content words in ``text`` (1.0 for a question without any)."""
        if not self.words:
            return 1.0
        return len(self.words & _content(_words(text))) / len(self.words)

    def features(self, passage: str, start: int, end: int) -> dict[str, float]:
        """The :data:`NAMES` values of the answer ``passage[start:end]``."""
        if passage not in self._passages:
            self._passages[passage] = self.coverage(passage)
        before = passage[:start]
        ends = list(_SENTENCE_END.finditer(before))
        sentence_start = ends[-1].end() if ends else 0
        after = _SENTENCE_END.search(passage, end)
        sentence = passage[sentence_start: after.start() + 1 if after else len(passage)]
        window = " ".join(_words(before)[-WINDOW:] + _words(passage[end:])[:WINDOW])
        answer = _words(passage[start:end])
        answer_content = [w[:STEM] for w in answer if w not in STOPWORDS]
        repeated = (sum(w in self.words for w in answer_content) / len(answer_content)) if answer_content else 0.0
        return {"question_coverage": self._passages[passage],
                "sentence_coverage": self.coverage(sentence), "window_coverage": self.coverage(window),
                "answer_in_question": repeated, "log_answer_words": math.log1p(len(answer))}
