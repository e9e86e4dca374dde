"""The official SQuAD 1.1 / 2.0 metrics.

The metric functions follow the official SQuAD 2.0 evaluation script (``evaluate-v2.0.py``) line for line in
behaviour: same normalisation (lower-case, strip punctuation and English articles, collapse whitespace), max over
gold answers, an impossible question's gold is ``[""]``, HasAns/NoAns split, and ``best_exact`` / ``best_f1``
thresholds from null odds. Normalisation lives in :mod:`spanbert_reader.data.text`.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any

from spanbert_reader.data.text import normalize_answer

logger = logging.getLogger(__name__)

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
