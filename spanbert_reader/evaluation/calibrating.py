"""Fit and measure answer calibration on an evaluated dataset, under two settings: the gold paragraph present
(normal open-domain QA) and the gold paragraph removed from what the retriever returns (the answer is then almost
never in the passages: the reader should say it does not know).

Questions are split in two halves by a hash of their id: the model is fitted on one half and measured on the
other (ECE, Brier score, AUROC, reliability, risk-coverage, per k and setting, against the uncalibrated scores);
the calibration that is stored is then fitted on all questions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from spanbert_reader.data.squad import SquadExample
from spanbert_reader.evaluation.metrics import compute_exact
from spanbert_reader.inference.calibration import (
    Calibration,
    answer_features,
    auroc,
    brier_score,
    choose_abstain_threshold,
    expected_calibration_error,
    fit_calibration,
    reliability,
    risk_coverage,
)
from spanbert_reader.inference.engine import QueryPrediction
from spanbert_reader.inference.ranking import rerank, span_probability
from spanbert_reader.inference.settings import RankSettings

SETTINGS = ("present", "removed")
ROWS_PER_QUESTION = 3  # the best answers of each question that the model is fitted on
# L2 penalty of the fit: chosen by fitting on each half and measuring on the other (BENCHMARKS.md, "Calibration");
# 30 beat 1, 10 and 100 on AUROC and abstention in both directions on the demo reader's held-out questions
L2 = 30.0


def half_of(question_id: str) -> int:
    """0 or 1: which half a question belongs to (stable across runs and machines)."""
    return hashlib.sha1(question_id.encode("utf-8")).digest()[0] % 2


def _rows(example: SquadExample, prediction: QueryPrediction, k: int, settings: RankSettings, limit: int
          ) -> list[tuple[dict[str, float], int, float]]:
    """``(features, right, uncalibrated score)`` of the best ``limit`` answers from the first ``k`` passages."""
    ranked = rerank(prediction, replace(settings, calibration=None), k=k)
    rows = []
    for span, features in zip(ranked.spans, answer_features(ranked, limit), strict=False):
        text = ranked.passages[span.passage][span.start: span.end]
        right = int(any(compute_exact(gold, text) for gold in (example.answers or [""])))
        rows.append((features, right, span_probability(span.score, settings.calibration_factor)))
    return rows


def _finite(value: float | None) -> float | None:
    """None for NaN (an AUROC with one class, say): metrics.json stays strict JSON."""
    return None if value is None or value != value else value


def _measures(probabilities: Sequence[float], labels: Sequence[int]) -> dict[str, Any]:
    return {"n": len(labels), "accuracy": sum(labels) / len(labels) if labels else None,
            "mean_score": sum(probabilities) / len(probabilities) if probabilities else None,
            "ece": _finite(expected_calibration_error(probabilities, labels)),
            "brier": _finite(brier_score(probabilities, labels)), "auroc": _finite(auroc(probabilities, labels))}


def _abstention(probabilities: Sequence[float], labels: Sequence[int], settings: Sequence[str], threshold: float
                ) -> dict[str, Any]:
    """What the threshold does: the share of gold-removed questions that abstain, the share of right present
    answers kept, and precision and coverage over both."""
    removed = [p for p, s in zip(probabilities, settings, strict=True) if s == "removed"]
    right_present = [p for p, y, s in zip(probabilities, labels, settings, strict=True) if s == "present" and y]
    answered = [y for p, y in zip(probabilities, labels, strict=True) if p >= threshold]
    return {"threshold": threshold,
            "removed_abstained": sum(p < threshold for p in removed) / len(removed) if removed else None,
            "right_present_kept": (sum(p >= threshold for p in right_present) / len(right_present)
                                   if right_present else None),
            "coverage": len(answered) / len(labels) if labels else None,
            "precision": sum(answered) / len(answered) if answered else None}


def calibration_study(examples: Sequence[SquadExample], settings: RankSettings,
                      predictions: dict[str, Sequence[QueryPrediction]], ks: Sequence[int]
                      ) -> tuple[Calibration, dict[str, Any]]:
    """Fit on one half, measure on the other, then fit on all; returns ``(calibration fitted on all, report)``.

    ``predictions[setting][i]`` is the prediction for ``examples[i]`` over the retrieved passages with the gold
    paragraph ``"present"`` or ``"removed"`` (every candidate span kept; see :func:`rerank`)."""
    table: list[tuple[int, str, int, int, dict[str, float], int, float]] = []  # half, setting, k, rank, ...
    for setting in SETTINGS:
        for example, prediction in zip(examples, predictions[setting], strict=True):
            for k in ks:
                for rank, (features, right, raw) in enumerate(_rows(example, prediction, k, settings,
                                                                    ROWS_PER_QUESTION)):
                    table.append((half_of(example.id), setting, k, rank, features, right, raw))
    if not table:
        raise ValueError("no answers to calibrate on")

    def fit(rows) -> Calibration:
        top = [r for r in rows if r[3] == 0]
        model = fit_calibration([r[4] for r in rows], [r[5] for r in rows], l2=L2)
        return model.with_threshold(choose_abstain_threshold([model.probability(r[4]) for r in top],
                                                             [r[5] for r in top]))

    train = [r for r in table if r[0] == 0]
    test_top = [r for r in table if r[0] == 1 and r[3] == 0]
    if not train or not test_top:
        raise ValueError("too few questions to fit on one half and measure on the other")
    held_out_model = fit(train)
    report: dict[str, Any] = {"fitted_on": f"{len({e.id for e in examples if half_of(e.id) == 0})} questions (half 0)",
                              "measured_on": f"{len({e.id for e in examples if half_of(e.id) == 1})} questions "
                                             "(half 1), best answer of each", "per_k": {}}
    for k in [*ks, "all"]:
        for setting in [*SETTINGS, "both"]:
            rows = [r for r in test_top if (k == "all" or r[2] == k) and (setting == "both" or r[1] == setting)]
            if not rows:
                continue
            labels = [r[5] for r in rows]
            calibrated = [held_out_model.probability(r[4]) for r in rows]
            report["per_k"].setdefault(str(k), {})[setting] = {
                "calibrated": _measures(calibrated, labels), "uncalibrated": _measures([r[6] for r in rows], labels)}
    pooled = test_top
    labels = [r[5] for r in pooled]
    calibrated = [held_out_model.probability(r[4]) for r in pooled]
    uncalibrated = [r[6] for r in pooled]
    report["abstention"] = _abstention(calibrated, labels, [r[1] for r in pooled], held_out_model.abstain_threshold)
    report["reliability"] = {"calibrated": reliability(calibrated, labels),
                             "uncalibrated": reliability(uncalibrated, labels)}
    curve = {name: risk_coverage(values, labels) for name, values in (("calibrated", calibrated),
                                                                        ("uncalibrated", uncalibrated))}
    report["risk_coverage"] = {name: points[:: max(1, len(points) // 50)] + points[-1:]
                               for name, points in curve.items()}
    final = fit(table)
    final = replace(final, details={"fitted_on": f"{len(examples)} questions x {len(ks)} k x {len(SETTINGS)} "
                                                  "settings (gold present / removed)",
                                    "held_out": report["per_k"].get("all", {}).get("both", {}).get("calibrated")})
    report["stored"] = final.to_dict()
    return final, report
