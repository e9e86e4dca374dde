"""From decoded spans to ranked answers: score fusion with the retriever, same-text aggregation, and the
no-answer rule. :func:`rerank` is the one ranking path (the reader, evaluation at every ``k``, fusion tuning).

Haystack-free: passages are strings, retriever scores are floats (``None`` when a passage has none).

**Score fusion.** A span's ranking logit is its reader logit (``start + end``) plus a per-passage bonus from the
retriever::

    fused = logit - retriever_weight * (1 - r)

where ``r`` in [0, 1] is the passage's retriever score normalised over the query's retrieved passages
(1 = the best-retrieved passage, which keeps its reader logit unchanged). Normalisations:

- ``"minmax"``: ``(s - min) / (max - min)`` (all 1 when the scores are equal, e.g. one passage);
- ``"max"``: ``s / max`` for positive scores (clipped to [0, 1]);
- ``"rank"``: ``1 / rank`` by descending score;
- ``"raw"``: ``r = 1 - (max - s)``, i.e. the bonus is ``retriever_weight * (s - max)`` in the retriever's own
  units (BERTserini's linear interpolation; only meaningful for one retriever type).

Passages without a numeric score get ``r = 0`` when others have one; when no passage has a score (a reader used
without a retriever) there is no bonus at all. ``retriever_weight = 0`` reproduces reader-only ranking exactly.

**Aggregation.** Optionally, answers whose SQuAD-normalised text is equal (across passages, and across
non-overlapping spans of one passage) are merged into the best of them, with ranking logit
``logsumexp(fused logits)`` — the sum of their probabilities under a softmax over spans.

**Stored settings.** Tuned values live beside a checkpoint (:mod:`spanbert_reader.inference.side_files`).

**No-answer.** The SQuAD 2.0 rule compares the null logit with the best *reader-only* span logit, so fusion and
aggregation rerank answers without moving the tuned no-answer threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from spanbert_reader.data.text import normalize_answer
from spanbert_reader.inference.decoding import CharSpan, overlap_fraction_exceeds
from spanbert_reader.inference.settings import (  # noqa: F401 (FusionSettings, check_fusion_profile re-exported)
    FusionSettings,
    RankSettings,
    check_fusion_profile,
)

if TYPE_CHECKING:
    from spanbert_reader.inference.engine import QueryPrediction



# Built-in defaults for checkpoints without stored settings, measured with the demo reader (BENCHMARKS.md,
# "Score fusion"): the main one with BM25, and one per fusion profile whose retriever scores are shaped differently.
DEFAULT_FUSION = FusionSettings(retriever_weight=4.0, normalization="minmax", aggregate=False)
PROFILE_DEFAULTS: dict[str, FusionSettings] = {
    "hybrid": FusionSettings(retriever_weight=16.0, normalization="minmax", aggregate=False),
}


def usable_number(score: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


def normalized_retriever_scores(scores: Sequence[float | None], normalization: str = "minmax"
                                ) -> list[float] | None:
    """Per-query retriever scores mapped to [0, 1] (1 = best); None when no passage has a score."""
    present = [float(s) for s in scores if usable_number(s)]
    if not present:
        return None
    top, bottom = max(present), min(present)
    result: list[float] = []
    if normalization == "rank":
        order = sorted((i for i, s in enumerate(scores) if usable_number(s)), key=lambda i: -float(scores[i]))
        ranks = {i: r for r, i in enumerate(order, start=1)}
        return [1.0 / ranks[i] if i in ranks else 0.0 for i in range(len(scores))]
    for s in scores:
        if not usable_number(s):
            result.append(0.0)
        elif normalization == "minmax":
            result.append(1.0 if top == bottom else (float(s) - bottom) / (top - bottom))
        elif normalization == "max":
            result.append(1.0 if top <= 0 else min(1.0, max(0.0, float(s) / top)))
        else:  # raw: bonus in the retriever's units
            result.append(1.0 - (top - float(s)))
    return result


def passage_bonus(scores: Sequence[float | None] | None, fusion: FusionSettings | None) -> list[float] | None:
    """The additive logit bonus (<= 0) of each passage, or None when fusion does not apply."""
    if scores is None or fusion is None or fusion.retriever_weight == 0:
        return None
    normalized = normalized_retriever_scores(scores, fusion.normalization)
    if normalized is None:
        return None
    return [-fusion.retriever_weight * (1.0 - r) for r in normalized]


def logsumexp(values: Sequence[float]) -> float:
    """log(sum(exp(values))), without overflow (``values`` not empty)."""
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def rank_answers(candidates: Sequence[CharSpan], passages: Sequence[str], top_k: int | None,
                 overlap_threshold: float | None, bonus: Sequence[float] | None = None,
                 aggregate: bool = False) -> list[CharSpan]:
    """Best-first answers: identical spans merged, the passage bonus added, spans overlapping a better one of
    the same passage dropped, same-text answers optionally aggregated, at most ``top_k``."""
    best: dict[tuple[int, int, int], CharSpan] = {}
    for candidate in candidates:
        key = (candidate.passage, candidate.start, candidate.end)
        if key not in best or candidate.logit > best[key].logit:
            best[key] = candidate
    spans = [replace(c, score=c.logit + (bonus[c.passage] if bonus is not None else 0.0), count=1)
             for c in best.values()]
    spans.sort(key=lambda c: -c.score)
    kept: list[CharSpan] = []
    kept_by_passage: dict[int, list[CharSpan]] = {}
    for span in spans:
        if not aggregate and top_k is not None and len(kept) >= top_k:
            break
        same_passage = kept_by_passage.setdefault(span.passage, [])
        if overlap_threshold is not None and any(
            overlap_fraction_exceeds(span, other, overlap_threshold) for other in same_passage
        ):
            continue
        same_passage.append(span)
        kept.append(span)
    if aggregate:
        kept = _aggregate(kept, passages)
    return kept if top_k is None else kept[:top_k]


def _aggregate(spans: list[CharSpan], passages: Sequence[str]) -> list[CharSpan]:
    groups: dict[str, list[CharSpan]] = {}
    order: list[str] = []
    for index, span in enumerate(spans):
        key = normalize_answer(passages[span.passage][span.start: span.end]) or f"\0{index}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(span)
    merged = []
    for key in order:
        group = groups[key]
        merged.append(replace(group[0], score=logsumexp([s.score for s in group]), count=len(group)))
    merged.sort(key=lambda c: -c.score)
    return merged


# ----------------------------------------------------------------------------- scores and the no-answer rule
def span_probability(logit: float, calibration_factor: float) -> float:
    """``sigmoid(calibration_factor * logit)``: the answer score reported to users."""
    x = calibration_factor * logit
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def predict_no_answer(null_logit: float | None, best_logit: float | None, null_threshold: float) -> bool:
    """SQuAD 2.0 rule: no answer when ``null_logit - best_logit > null_threshold`` (or there is no span)."""
    if best_logit is None:
        return True
    if null_logit is None:
        return False
    return null_logit - best_logit > null_threshold


@dataclass(frozen=True)
class NoAnswer:
    """The no-answer verdict for one query: its score in [0, 1] and what it was computed from."""

    score: float
    meta: dict[str, Any]


def no_answer(method: str, null_logit: float | None, best_logit: float | None, null_threshold: float,
              calibration_factor: float, answer_scores: Sequence[float]) -> NoAnswer:
    """The no-answer score: ``null_logit`` compares the null logit with the best reader-only span logit (SQuAD
    2.0); ``estimate`` is ``prod(1 - score)`` over the answers (TransformersExtractiveReader's estimate)."""
    if method == "null_logit" and null_logit is not None:
        return NoAnswer(span_probability(null_logit - null_threshold, calibration_factor), {
            "method": "null_logit", "null_logit": null_logit, "null_threshold": null_threshold,
            "predicted": predict_no_answer(null_logit, best_logit, null_threshold)})
    score = 1.0
    for value in answer_scores:
        score *= 1.0 - value
    return NoAnswer(score, {"method": "estimate"})




def rerank(prediction: QueryPrediction, settings: RankSettings | None, k: int | None = None,
           top_k: int | None = None) -> QueryPrediction:
    """``prediction`` ranked from its reader logits under ``settings`` (fusion, overlap, aggregation), reading
    only its first ``k`` passages (all when None; retriever scores are normalised over those ``k``), keeping at
    most ``top_k`` answers. ``settings=None`` ranks by the reader logits alone, keeping overlapping spans."""
    first = prediction if k is None else prediction.first(k)
    settings = settings or RankSettings(FusionSettings(), overlap_threshold=None)
    fusion = settings.fusion
    spans = rank_answers(first.spans, first.passages, top_k, settings.overlap_threshold,
                         passage_bonus(first.retriever_scores, fusion), fusion.aggregate)
    return replace(first, spans=spans)
