"""Calibrated confidence: ``answer.score`` as an estimate of P(this answer is an exact match), and the measures
that say how good such an estimate is.

A small logistic regression maps what is known at ranking time to a probability. The features of an answer
(:data:`FEATURES`), from its ranked prediction:

- ``fused_logit`` and ``logit``: its ranking logit (reader + retriever) and its reader-only logit;
- ``retriever_score``: its passage's retriever score normalised over the query's passages (minmax; 1 without
  scores) and ``inverse_rank``: 1 / its passage's retrieval rank;
- ``margin``: for the best answer, how far its fused logit is above the next answer's; for the others, how far
  below the best one (negative);
- ``log_agreement``: log of how many passages propose the same (normalised) answer text among the best spans;
- ``null_odds``: the model's null logit minus the best reader logit (SQuAD 2.0 evidence; 0 when none) and
  ``has_null``;
- ``log_passages``: log(1 + passages read);
- ``answer_share`` and ``text_share``: the answer's share of the softmax over the fused logits of the best
  :data:`AGREEMENT_POOL` spans, and the share of all of those spans with the same (normalised) text;
  ``passage_null_odds``: the null logit of the answer's own passage minus its reader logit;
  ``retrieval_gap``: how far the best-retrieved passage's score is above the second one, relative to it
  (``(s1 - s2) / s1`` in [0, 1]; 0 with fewer than two scores or a best one <= 0). A gold passage that is there
  tends to stand out from the rest; when it is missing the scores are flatter. Scale-free, so it holds across
  corpora;
- ``question_coverage``, ``sentence_coverage``, ``window_coverage``: the share of the question's content words in
  the answer's passage, its sentence and the words around it; ``answer_in_question``: how much of the answer
  repeats the question; ``log_answer_words`` (:mod:`spanbert_reader.inference.evidence`). They tell an answer
  from passages about the question from one out of passages that merely share a few words with it;
- ``retriever_raw`` and ``retriever_top_raw``: log(1 + the passage's raw retriever score) and the same for the
  best-retrieved passage (0 without scores). Raw scores tell "the best passage matches the question well" from
  "nothing matches", but their scale moves with the corpus (BM25's IDF), so the default fit
  (:data:`FIT_FEATURES`) leaves them out; a calibration may name them when it is fitted on the corpus it serves.

The fitted model lives in ``fusion.json`` beside the checkpoint (per profile, next to ``retriever_weight``;
written by ``spanbert-qa eval --tune-calibration``), with its ``abstain_threshold``. A checkpoint without one uses
:data:`DEFAULT_CALIBRATION`, fitted on the bundled demo reader (BENCHMARKS.md, "Calibration").

numpy only: fitting is Newton's method on the L2-regularised log-loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from spanbert_reader.data.text import normalize_answer
from spanbert_reader.inference.evidence import NAMES as EVIDENCE_FEATURES
from spanbert_reader.inference.evidence import QuestionEvidence

if TYPE_CHECKING:
    from spanbert_reader.inference.engine import QueryPrediction

_READER_FEATURES = ("fused_logit", "logit", "retriever_score", "inverse_rank", "margin", "log_agreement", "null_odds",
                    "has_null", "log_passages")
_RAW_FEATURES = ("retriever_raw", "retriever_top_raw")
_SHARE_FEATURES = ("answer_share", "text_share", "passage_null_odds", "retrieval_gap")
FEATURES = (*_READER_FEATURES, *_RAW_FEATURES, *EVIDENCE_FEATURES, *_SHARE_FEATURES)
_LEGACY_FEATURES = (*_READER_FEATURES, *_RAW_FEATURES)  # a record that names none was fitted on these
# what `eval --tune-calibration` fits on: not the raw retriever scores, whose scale moves with the corpus (BM25's
# IDF): fitted on 10,000 passages they made the demo reader abstain on every question of a 5-file corpus
FIT_FEATURES = (*_READER_FEATURES, *EVIDENCE_FEATURES, *_SHARE_FEATURES)
AGREEMENT_POOL = 20  # best spans looked at for agreement
MARGIN_CAP = 30.0


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@dataclass(frozen=True)
class Calibration:
    """A fitted logistic model over :data:`FEATURES` (standardised with ``mean``/``scale``) and the abstention
    threshold: the no-answer comes first when the best answer's probability is below ``abstain_threshold``."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    features: tuple[str, ...] = FEATURES
    abstain_threshold: float = 0.5
    details: dict[str, Any] = field(default_factory=dict, compare=False)  # where and how it was fitted

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError(f"calibration needs {n} weights, means and scales, one per feature")
        values = [*self.weights, self.bias, *self.mean, *self.scale, self.abstain_threshold]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError("calibration values must be finite numbers")
        if any(s <= 0 for s in self.scale) or not 0 <= self.abstain_threshold <= 1:
            raise ValueError("calibration scales must be > 0 and abstain_threshold in [0, 1]")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown calibration features: {', '.join(sorted(unknown))}")

    def probability(self, values: dict[str, float]) -> float:
        """P(exact match) for an answer's feature values."""
        z = self.bias + sum(w * (values[name] - m) / s
                            for w, name, m, s in zip(self.weights, self.features, self.mean, self.scale, strict=True))
        return _sigmoid(z)

    def with_threshold(self, threshold: float) -> Calibration:
        from dataclasses import replace

        return replace(self, abstain_threshold=float(threshold))

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["features"] = list(self.features)
        for key in ("weights", "mean", "scale"):
            record[key] = [round(float(v), 6) for v in record[key]]
        record["bias"] = round(float(self.bias), 6)
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """ValueError (naming what is wrong) for a record that is not a calibration."""
        try:
            return cls(tuple(float(v) for v in data["weights"]), float(data["bias"]),
                       tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["scale"]),
                       tuple(data.get("features", _LEGACY_FEATURES)), float(data.get("abstain_threshold", 0.5)),
                       dict(data.get("details", {})))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a calibration record ({type(exc).__name__}: {exc})") from None


def answer_features(prediction: QueryPrediction, count: int) -> list[dict[str, float]]:
    """The feature values of the first ``count`` spans of ``prediction`` (ranked; agreement and margins look at
    the best :data:`AGREEMENT_POOL` spans, so it must hold at least that many when it has them). What the spans
    share (normalised retriever scores, the pool's answer texts, null odds) is computed once."""
    from spanbert_reader.inference.ranking import logsumexp, normalized_retriever_scores, usable_number

    spans = prediction.spans
    scores = prediction.retriever_scores
    normalized = normalized_retriever_scores(scores, "minmax") if scores is not None else None
    raw = [float(s) if usable_number(s) else 0.0 for s in scores] if scores is not None else []
    ordered = sorted((float(s) for s in scores if usable_number(s)), reverse=True) if scores else []
    top_raw = _log_score(ordered[0]) if ordered else 0.0
    pool = [(s.passage, normalize_answer(prediction.passages[s.passage][s.start: s.end]))
            for s in spans[:AGREEMENT_POOL]]
    pool_scores = [s.score for s in spans[:AGREEMENT_POOL]]
    total = logsumexp(pool_scores) if pool_scores else 0.0
    shares = [math.exp(score - total) for score in pool_scores]  # softmax over the pool
    text_shares: dict[str, float] = {}
    for (_, text), share in zip(pool, shares, strict=True):
        text_shares[text] = text_shares.get(text, 0.0) + share
    retrieval_gap = (min(1.0, max(0.0, (ordered[0] - ordered[1]) / ordered[0]))
                     if len(ordered) > 1 and ordered[0] > 0 else 0.0)
    has_null = prediction.null_logit is not None and prediction.best_logit is not None
    shared = {"retriever_top_raw": top_raw, "null_odds": prediction.null_odds if has_null else 0.0,
              "has_null": 1.0 if has_null else 0.0, "log_passages": math.log1p(len(prediction.passages)),
              "retrieval_gap": retrieval_gap}
    evidence = QuestionEvidence(prediction.query)
    passage_nulls = prediction.passage_null_logits
    rows = []
    for index, span in enumerate(spans[:count]):
        if index == 0:
            margin = spans[0].score - spans[1].score if len(spans) > 1 else MARGIN_CAP
        else:
            margin = span.score - spans[0].score
        text = pool[index][1] if index < len(pool) else normalize_answer(
            prediction.passages[span.passage][span.start: span.end])
        agreeing = {passage for passage, other in pool if other == text} if text else set()
        passage_null = passage_nulls[span.passage] if span.passage < len(passage_nulls) else None
        rows.append({**shared, **evidence.features(prediction.passages[span.passage], span.start, span.end),
                     "retriever_raw": _log_score(raw[span.passage]) if raw else 0.0,
                     "fused_logit": span.score, "logit": span.logit,
                     "retriever_score": normalized[span.passage] if normalized is not None else 1.0,
                     "inverse_rank": 1.0 / (span.passage + 1),
                     "margin": max(-MARGIN_CAP, min(MARGIN_CAP, margin)),
                     "log_agreement": math.log(max(1, len(agreeing), span.count)),
                     "answer_share": shares[index] if index < len(shares) else 0.0,
                     "text_share": text_shares.get(text, 0.0),
                     "passage_null_odds": passage_null - span.logit if usable_number(passage_null) else 0.0})
    return rows


def _log_score(value: float) -> float:
    return math.copysign(math.log1p(abs(value)), value)


def fit_calibration(rows: Sequence[dict[str, float]], labels: Sequence[int], l2: float = 1.0,
                    features: Sequence[str] = FIT_FEATURES, iterations: int = 50) -> Calibration:
    """Logistic regression of ``labels`` (1 = exact match) on the standardised ``features`` of ``rows``."""
    import numpy as np

    if len(rows) != len(labels) or not rows:
        raise ValueError("fit_calibration needs as many labels as rows, and at least one row")
    x = np.array([[float(row[name]) for name in features] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        gradient = z.T @ (p - y) + penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Calibration(tuple(float(v) for v in w[:-1]), float(w[-1]), tuple(float(v) for v in mean),
                       tuple(float(v) for v in scale), tuple(features))


# ----------------------------------------------------------------------------- how good a confidence is
def expected_calibration_error(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    """ECE: the mean |accuracy - confidence| over ``bins`` equal-width bins, weighted by their counts."""
    total = len(probabilities)
    if total == 0:
        return float("nan")
    error = 0.0
    for _, _, count, confidence, accuracy in reliability(probabilities, labels, bins):
        error += count / total * abs(accuracy - confidence)
    return error


def reliability(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10
                ) -> list[tuple[float, float, int, float, float]]:
    """``(low, high, count, mean confidence, accuracy)`` of each non-empty equal-width bin."""
    rows = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(p, y) for p, y in zip(probabilities, labels, strict=True)
                   if low <= p < high or (b == bins - 1 and p == 1.0)]
        if members:
            rows.append((low, high, len(members), sum(p for p, _ in members) / len(members),
                         sum(y for _, y in members) / len(members)))
    return rows


def brier_score(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Mean squared error of the probabilities against the 0/1 labels."""
    if not probabilities:
        return float("nan")
    return sum((p - y) ** 2 for p, y in zip(probabilities, labels, strict=True)) / len(probabilities)


def auroc(probabilities: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: the chance a right answer scores above a wrong one (ties count half)."""
    positives = [p for p, y in zip(probabilities, labels, strict=True) if y]
    negatives = [p for p, y in zip(probabilities, labels, strict=True) if not y]
    if not positives or not negatives:
        return float("nan")
    ranked = sorted([(p, 1) for p in positives] + [(p, 0) for p in negatives])
    rank_sum, index = 0.0, 0
    while index < len(ranked):  # average ranks over ties
        end = index
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[index][0]:
            end += 1
        average = (index + end) / 2 + 1
        rank_sum += average * sum(1 for i in range(index, end + 1) if ranked[i][1])
        index = end + 1
    return (rank_sum - len(positives) * (len(positives) + 1) / 2) / (len(positives) * len(negatives))


def risk_coverage(probabilities: Sequence[float], labels: Sequence[int]) -> list[tuple[float, float]]:
    """``(coverage, precision)`` when only the questions whose best answer scores at least each threshold are
    answered, best-scored first."""
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
    curve, right = [], 0
    for answered, i in enumerate(order, start=1):
        right += labels[i]
        curve.append((answered / len(order), right / answered))
    return curve


KEEP_RIGHT = 0.85  # the share of right best answers the stored abstain threshold keeps


def choose_abstain_threshold(probabilities: Sequence[float], labels: Sequence[int], keep: float = KEEP_RIGHT
                             ) -> float:
    """The highest threshold that still answers ``keep`` of the questions whose best answer is right: as many
    wrong answers (questions the documents cannot answer, above all) as possible turn into "not found", at a
    stated cost in right answers. 0 when no best answer is right."""
    right = sorted(p for p, y in zip(probabilities, labels, strict=True) if y)
    if not right:
        return 0.0
    index = min(len(right) - 1, max(0, int(math.floor((1 - keep) * len(right)))))
    return float(right[index])


# Fitted on the bundled demo reader (BENCHMARKS.md, "Calibration"; the demo's own fusion.json holds the same fit with
# its abstain threshold); used for checkpoints without a stored calibration. Its scores are the demo reader's chance
# of being right for the same features, so for another model they are a rough guide only: the threshold is 0 (the
# reader never says "not found" on a mapping fitted to another model), and `spanbert-qa eval --tune-calibration`
# fits the model's own.
DEFAULT_CALIBRATION = Calibration(
    weights=(0.293786, 0.221225, 0.127922, 0.201005, 0.10756, 0.126542, -0.203756, 0, -0.089208, 0.087538, 0.105046,
             0.201097, -0.344246, -0.250701, 0.350103, 0.350103, -0.414222, 0.179803),
    bias=-3.58264,
    mean=(3.10502, 4.67127, 0.803776, 0.74976, -1.14312, 0.042472, -14.7702, 1, 2.06725, 0.544641, 0.417635, 0.428858,
          0.093405, 1.31719, 0.344979, 0.344979, -11.5348, 0.138128),
    scale=(4.78866, 4.48893, 0.312702, 0.334752, 6.1623, 0.18639, 4.1557, 1, 0.825919, 0.208344, 0.243253, 0.240367,
           0.213782, 0.628515, 0.376443, 0.376443, 4.31658, 0.158308),
    features=FIT_FEATURES, abstain_threshold=0.0,
    details={"source": "the bundled demo reader (minilm-squad-demo: two epochs, then shared-norm), inmemory_qa "
                       "(BM25), 370 held-out questions x k in 1, 5, 10, 20, gold present and removed; 2026-12-04"})
