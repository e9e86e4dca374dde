"""From decoded spans to ranked answers: score fusion with the retriever, same-text aggregation, the
no-answer rule, and the small files stored beside a checkpoint (``null_threshold.json``, ``fusion.json``).

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

**Stored settings.** ``fusion.json`` beside a checkpoint holds tuned values: a main entry (tuned with BM25)
and optional named profiles (``"profiles": {"hybrid": {...}}``) for retrievers whose scores are shaped
differently; a reader's ``fusion_profile`` picks one (see :func:`stored_fusion` for the lookup order).

**No-answer.** The SQuAD 2.0 rule compares the null logit with the best *reader-only* span logit, so fusion and
aggregation rerank answers without moving the tuned no-answer threshold.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spanbert_reader.data.text import normalize_answer
from spanbert_reader.inference.decoding import CharSpan, overlap_fraction_exceeds

logger = logging.getLogger(__name__)

NULL_THRESHOLD_FILE = "null_threshold.json"
FUSION_FILE = "fusion.json"
NORMALIZATIONS = ("minmax", "max", "rank", "raw")


@dataclass(frozen=True)
class FusionSettings:
    """How retriever scores and same-text answers change the ranking (see the module docstring)."""

    retriever_weight: float = 0.0
    normalization: str = "minmax"
    aggregate: bool = False

    def __post_init__(self) -> None:
        weight = self.retriever_weight
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"retriever_weight must be a finite number >= 0, got {weight!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"retriever_normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not isinstance(self.aggregate, bool):
            raise ValueError(f"aggregate_answers must be True or False, got {self.aggregate!r}")

    @property
    def active(self) -> bool:
        return self.retriever_weight > 0 or self.aggregate


# Built-in defaults for checkpoints without stored settings, measured with the demo reader (BENCHMARKS.md,
# "Score fusion"): the main one with BM25, and one per fusion profile whose retriever scores are shaped differently.
DEFAULT_FUSION = FusionSettings(retriever_weight=4.0, normalization="minmax", aggregate=False)
PROFILE_DEFAULTS: dict[str, FusionSettings] = {
    "hybrid": FusionSettings(retriever_weight=16.0, normalization="minmax", aggregate=False),
}


def _usable(score: Any) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


def normalized_retriever_scores(scores: Sequence[float | None], normalization: str = "minmax"
                                ) -> list[float] | None:
    """Per-query retriever scores mapped to [0, 1] (1 = best); None when no passage has a score."""
    present = [float(s) for s in scores if _usable(s)]
    if not present:
        return None
    top, bottom = max(present), min(present)
    result: list[float] = []
    if normalization == "rank":
        order = sorted((i for i, s in enumerate(scores) if _usable(s)), key=lambda i: -float(scores[i]))
        ranks = {i: r for r, i in enumerate(order, start=1)}
        return [1.0 / ranks[i] if i in ranks else 0.0 for i in range(len(scores))]
    for s in scores:
        if not _usable(s):
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


def _logsumexp(values: Sequence[float]) -> float:
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
        merged.append(replace(group[0], score=_logsumexp([s.score for s in group]), count=len(group)))
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


# ----------------------------------------------------------------------------- files beside a checkpoint
def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("Ignoring %s: not readable JSON (%s)", path, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("Ignoring %s: expected a JSON object", path)
        return None
    return data


def _write_json(folder: str | Path, name: str, record: dict[str, Any]) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_null_threshold(folder: str | Path) -> float | None:
    """The no-answer threshold stored in a checkpoint folder by evaluation or training, if any."""
    path = Path(folder) / NULL_THRESHOLD_FILE
    data = _read_json(path)
    if data is None:
        return None
    value = data.get("null_threshold")
    if not _usable(value):
        logger.warning('Ignoring %s: expected {"null_threshold": <number>}', path)
        return None
    return float(value)


def write_null_threshold(folder: str | Path, threshold: float, **details: Any) -> Path:
    """Store a tuned no-answer threshold next to a checkpoint; the reader picks it up at warm-up."""
    return _write_json(folder, NULL_THRESHOLD_FILE, {"null_threshold": float(threshold), **details})


def _fusion_entry(data: dict[str, Any], path: Path, label: str) -> FusionSettings | None:
    try:
        return FusionSettings(retriever_weight=data["retriever_weight"],
                              normalization=data.get("retriever_normalization", "minmax"),
                              aggregate=data.get("aggregate_answers", False))
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("Ignoring %s of %s: %s", label, path, exc)
        return None


def check_fusion_profile(profile: str | None) -> None:
    """Raise ValueError unless ``profile`` is None or a non-empty name of letters, digits, ``-`` and ``_``."""
    if profile is None:
        return
    if not isinstance(profile, str) or not profile or not all(c.isalnum() or c in "-_" for c in profile):
        raise ValueError(f"fusion_profile must be None or a name of letters, digits, '-' and '_', got {profile!r}")


def _select_fusion(data: dict[str, Any] | None, path: Path, profile: str | None) -> FusionSettings | None:
    """The main entry (``profile`` None) or the named profile's entry of a loaded ``fusion.json``, if usable."""
    if data is None:
        return None
    if profile is None:
        if "retriever_weight" not in data and "profiles" not in data:
            logger.warning('Ignoring %s: expected {"retriever_weight": <number>, ...} and/or {"profiles": {...}}', path)
            return None
        return _fusion_entry(data, path, "the main entry") if "retriever_weight" in data else None
    profiles = data.get("profiles")
    entry = profiles.get(profile) if isinstance(profiles, dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict):
        logger.warning("Ignoring profile %r of %s: expected a JSON object", profile, path)
        return None
    return _fusion_entry(entry, path, f"profile {profile!r}")


def read_fusion(folder: str | Path, profile: str | None = None) -> FusionSettings | None:
    """Fusion settings stored beside a checkpoint by ``spanbert-qa eval --tune-fusion``, if any: the main entry
    of ``fusion.json``, or with ``profile`` that profile's entry (under ``"profiles"``)."""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    return _select_fusion(_read_json(path), path, profile)


def stored_fusion(folder: str | Path, profile: str | None = None) -> FusionSettings:
    """The fusion settings a reader uses when its init parameters leave them open, first found of: the
    profile's entry in ``fusion.json``; the built-in default of that profile; the main entry of ``fusion.json``;
    the built-in main default. (A profile's own values win over values tuned for another retriever.)"""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    data = _read_json(path)  # read once: a broken file is warned about once
    if profile is not None:
        found = _select_fusion(data, path, profile) or PROFILE_DEFAULTS.get(profile)
        if found is not None:
            return found
    return _select_fusion(data, path, None) or DEFAULT_FUSION


def write_fusion(folder: str | Path, fusion: FusionSettings, profile: str | None = None, **details: Any) -> Path:
    """Store tuned fusion settings next to a checkpoint (the main entry, or ``profile``'s entry; the other
    entries of an existing ``fusion.json`` are kept); the reader picks them up at warm-up."""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    entry = {"retriever_weight": fusion.retriever_weight, "retriever_normalization": fusion.normalization,
             "aggregate_answers": fusion.aggregate, **details}
    existing = _read_json(path) or {}
    profiles = existing.get("profiles") if isinstance(existing.get("profiles"), dict) else {}
    if profile is None:
        record = dict(entry)
    else:
        record = {k: v for k, v in existing.items() if k != "profiles"}
        profiles = {**profiles, profile: entry}
    if profiles:
        record["profiles"] = profiles
    return _write_json(folder, FUSION_FILE, record)
