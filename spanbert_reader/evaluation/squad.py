"""SQuAD 1.1 / 2.0 data loading and the official answer normalisation and metrics.

The metric functions follow the official SQuAD 2.0 evaluation script (``evaluate-v2.0.py``) line for line in
behaviour: same normalisation (lower-case, strip punctuation and English articles, collapse whitespace), max over
gold answers, an impossible question's gold is ``[""]``, HasAns/NoAns split, and ``best_exact`` / ``best_f1``
thresholds from null odds. This module is the one place SQuAD normalisation lives.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official SQuAD normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(text: str) -> list[str]:
    """Normalised tokens of a string (empty for an empty string)."""
    if not text:
        return []
    return normalize_answer(text).split()


def compute_exact(gold: str, prediction: str) -> int:
    """1 when the normalised strings are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def compute_f1(gold: str, prediction: str) -> float:
    """Token-overlap F1 of the normalised strings (1/0 when either is empty: equal or not)."""
    gold_tokens = get_tokens(gold)
    pred_tokens = get_tokens(prediction)
    common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
    num_same = sum(common.values())
    if len(gold_tokens) == 0 or len(pred_tokens) == 0:
        return float(gold_tokens == pred_tokens)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def max_over_golds(metric, golds: list[str], prediction: str) -> float:
    """A metric's best value over the gold answers (``[""]`` when there are none)."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(metric(g, prediction) for g in golds)


@dataclass
class SquadExample:
    """One question with its context and gold answers (empty for impossible questions)."""

    id: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int]
    is_impossible: bool
    title: str
    article: int
    paragraph: int

    @property
    def context_key(self) -> tuple[int, int]:
        return (self.article, self.paragraph)


@dataclass
class DataReport:
    """Problems found while loading a dataset; counted, never fatal."""

    missing_answers_key: int = 0
    reanchored_answers: int = 0
    unanchorable_answers: int = 0
    duplicate_ids: int = 0
    empty_contexts: int = 0
    empty_questions: int = 0
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "details"}


@dataclass
class SquadDataset:
    """A loaded SQuAD file: examples in file order, its version and the data report."""

    examples: list[SquadExample]
    version: str
    report: DataReport
    raw: dict[str, Any]

    @property
    def has_impossible(self) -> bool:
        return any(e.is_impossible for e in self.examples)


def _anchor(context: str, text: str, start: int | None) -> int | None:
    """``start`` when the answer text is there, else the nearest exact occurrence (None when absent)."""
    if isinstance(start, int) and context[start: start + len(text)] == text:
        return start
    stripped = text.strip()
    occurrences = [m.start() for m in re.finditer(re.escape(stripped), context)] if stripped else []
    if not occurrences:
        return None
    reference = start if isinstance(start, int) else 0
    return min(occurrences, key=lambda o: abs(o - reference))


def load_squad(path: str | Path) -> SquadDataset:
    """Load a SQuAD 1.1 / 2.0 JSON file, repairing or counting bad records instead of crashing."""
    path = Path(path)
    expected = ('expected SQuAD format: {"version": ..., "data": [{"title": ..., "paragraphs": '
                '[{"context": ..., "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}')
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read dataset {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"Dataset {path} is not JSON ({exc}); {expected}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise ValueError(f"Dataset {path} is not in SQuAD format: {expected}")
    report = DataReport()
    examples: list[SquadExample] = []
    seen: set[str] = set()
    for a_index, article in enumerate(raw["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"Dataset {path}: data[{a_index}] has no 'paragraphs' list; {expected}")
        for p_index, paragraph in enumerate(article["paragraphs"]):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas", []) if isinstance(paragraph, dict) else []
            if not isinstance(context, str) or not context.strip():
                report.empty_contexts += 1
                report.details.append(f"data[{a_index}].paragraphs[{p_index}]: empty context ({len(qas)} questions)")
                continue
            for qa in qas:
                qid = str(qa.get("id", f"{a_index}-{p_index}-{len(examples)}"))
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    report.empty_questions += 1
                    continue
                if qid in seen:
                    report.duplicate_ids += 1
                    report.details.append(f"duplicate question id {qid}: kept the first")
                    continue
                seen.add(qid)
                if "answers" not in qa:
                    report.missing_answers_key += 1
                answers, starts = [], []
                for answer in qa.get("answers") or []:
                    text = answer.get("text") if isinstance(answer, dict) else None
                    if not isinstance(text, str) or not text.strip():
                        continue
                    start = answer.get("answer_start")
                    anchored = _anchor(context, text, start)
                    if anchored is None:
                        report.unanchorable_answers += 1
                        report.details.append(f"{qid}: answer {text!r} not found in its context; kept as text only")
                        answers.append(text)
                        starts.append(-1)
                        continue
                    if anchored != start:
                        report.reanchored_answers += 1
                        text = text.strip()
                    answers.append(text)
                    starts.append(anchored)
                impossible = bool(qa.get("is_impossible", False)) or not answers
                examples.append(SquadExample(qid, question, context, [] if impossible else answers,
                                             [] if impossible else starts, impossible, article.get("title", ""),
                                             a_index, p_index))
    if report.unanchorable_answers:
        logger.warning("%s: %d gold answer(s) could not be found in their context", path, report.unanchorable_answers)
    version = str(raw.get("version", "2.0" if any(e.is_impossible for e in examples) else "1.1"))
    return SquadDataset(examples, version, report, raw)


def _official_golds(dataset: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, bool]]:
    golds: dict[str, list[str]] = {}
    has_answer: dict[str, bool] = {}
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qid = qa["id"]
                texts = [a["text"] for a in qa.get("answers") or [] if normalize_answer(a["text"])]
                has_answer[qid] = bool(texts)
                golds[qid] = texts or [""]
    return golds, has_answer


def _find_best_threshold(predictions: Mapping[str, str], scores: Mapping[str, float],
                         na_probs: Mapping[str, float], has_answer: Mapping[str, bool]) -> tuple[float, float]:
    num_no_ans = sum(1 for k in has_answer if not has_answer[k])
    current = best = num_no_ans
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            diff = scores[qid]
        elif predictions[qid]:
            diff = -1
        else:
            diff = 0
        current += diff
        if current > best:
            best = current
            best_thresh = na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def score_squad(dataset: Mapping[str, Any], predictions: Mapping[str, str],
                na_probs: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0) -> dict[str, Any]:
    """Score predictions (question id → answer text, "" for no answer) exactly like the official SQuAD 2.0 script.

    ``dataset`` is the raw SQuAD dictionary. Questions without a prediction are left out, as the official
    script does (it prints "Missing prediction"); their ids are listed under ``missing``.
    """
    golds, has_answer = _official_golds(dataset)
    odds_given = na_probs is not None
    na_probs = dict(na_probs) if na_probs is not None else {k: 0.0 for k in predictions}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    missing = []
    for qid, gold in golds.items():
        if qid not in predictions:
            missing.append(qid)
            continue
        prediction = predictions[qid]
        exact_raw[qid] = max(compute_exact(g, prediction) for g in gold)
        f1_raw[qid] = max(compute_f1(g, prediction) for g in gold)

    def thresholded(scores: dict[str, float]) -> dict[str, float]:
        result = {}
        for qid, value in scores.items():
            predicted_na = na_probs.get(qid, 0.0) > na_prob_thresh
            result[qid] = float(not has_answer[qid]) if predicted_na else value
        return result

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)

    def summary(ids: list[str]) -> dict[str, float]:
        total = len(ids)
        if not total:
            return {"exact": 0.0, "f1": 0.0, "total": 0}
        return {"exact": 100.0 * sum(exact[k] for k in ids) / total,
                "f1": 100.0 * sum(f1[k] for k in ids) / total, "total": total}

    scored = [k for k in golds if k in exact]
    result: dict[str, Any] = dict(summary(scored))
    has_ids = [k for k in scored if has_answer[k]]
    no_ids = [k for k in scored if not has_answer[k]]
    if has_ids:
        result.update({f"HasAns_{k}": v for k, v in summary(has_ids).items()})
    if no_ids:
        result.update({f"NoAns_{k}": v for k, v in summary(no_ids).items()})
    if odds_given:
        best_exact, exact_thresh = _find_best_threshold(predictions, exact_raw, na_probs, has_answer)
        best_f1, f1_thresh = _find_best_threshold(predictions, f1_raw, na_probs, has_answer)
        result.update({"best_exact": best_exact, "best_exact_thresh": exact_thresh,
                       "best_f1": best_f1, "best_f1_thresh": f1_thresh})
    if missing:
        result["missing"] = missing
    return result
