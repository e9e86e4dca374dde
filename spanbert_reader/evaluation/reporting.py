"""Evaluation outputs: metrics.json, predictions, details.jsonl, the markdown report, the plot, and the same run as
a Haystack ``EvaluationRunResult``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from haystack import Document

from spanbert_reader.evaluation.reading import EvalResult

logger = logging.getLogger(__name__)


def write_outputs(result: EvalResult, output: Path, run_name: str = "spanbert-eval") -> dict[str, Path]:
    """metrics.json, predictions.json (largest k), oracle_predictions.json, null_odds.json, details.jsonl,
    report.md and plot.png in ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    ks = sorted(int(k) for k in result.metrics["ks"])
    paths = {name: output / name for name in ("metrics.json", "predictions.json", "oracle_predictions.json",
                                               "null_odds.json", "details.jsonl", "report.md", "plot.png")}
    paths["metrics.json"].write_text(json.dumps(result.metrics, indent=2) + "\n")
    paths["predictions.json"].write_text(json.dumps(result.predictions(ks[-1]), ensure_ascii=False, indent=1))
    paths["oracle_predictions.json"].write_text(json.dumps(result.oracle_predictions(), ensure_ascii=False, indent=1))
    paths["null_odds.json"].write_text(json.dumps(result.null_odds(), indent=1))
    with paths["details.jsonl"].open("w", encoding="utf-8") as handle:
        for r in result.records:
            handle.write(json.dumps({**r.__dict__, "predictions": {str(k): v for k, v in r.predictions.items()},
                                     "top_n": {str(k): v for k, v in r.top_n.items()},
                                     "answer_in_passages": {str(k): v for k, v in r.answer_in_passages.items()},
                                     "reader_only": {str(k): v for k, v in r.reader_only.items()}},
                                    ensure_ascii=False) + "\n")
    paths["report.md"].write_text(markdown_report(result.metrics, run_name))
    plot(result.metrics, paths["plot.png"], title=run_name)
    return paths


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_report(metrics: dict[str, Any], run_name: str) -> str:
    """A human-readable summary of ``metrics``."""
    d = metrics["dataset"]
    lines = [f"# Open-domain QA evaluation: {run_name}", ""]
    setup = metrics.get("setup")
    if setup:
        precision = f" ({setup['precision']})" if setup.get("precision") else ""
        lines += [f"Model `{setup.get('model')}`{precision}, pipeline `{setup.get('pipeline')}`; fusion from "
                  f"{setup.get('fusion')}, calibration from {setup.get('calibration')}.", ""]
    lines += [f"{d['questions']} questions ({d['has_answer']} answerable, {d['no_answer']} impossible). \"reader\" is "
              "the answer the pipeline gives (reader and retriever evidence fused); \"reader-only\" ranks by the "
              "reader's logits alone.", "",
             "| k | reader EM | reader F1 | HasAns F1 | NoAns acc. | top-k acc. | retriever recall@k "
             "| answer recall@k | MRR@k |", "|---|---|---|---|---|---|---|---|---|"]
    for k, m in metrics["ks"].items():
        r = m["reader"]
        lines.append(f"| {k} | {_fmt(r['exact'])} | {_fmt(r['f1'])} | {_fmt(r.get('HasAns_f1'))} | "
                     f"{_fmt(r.get('NoAns_exact'))} | {_fmt(m['top_n_accuracy'])} | {_fmt(m['retriever_recall'])} | "
                     f"{_fmt(m['answer_recall'])} | {m['mrr']:.3f} |")
    fusion = metrics.get("fusion")
    if fusion:
        lines += ["", f"Answers ranked with retriever weight {fusion['retriever_weight']:g} "
                  f"({fusion['retriever_normalization']} normalisation), aggregation "
                  f"{'on' if fusion['aggregate_answers'] else 'off'}."]
    if any("reader_only" in m for m in metrics["ks"].values()):
        lines += ["", "| k | reader-only EM | reader-only F1 | fused EM | fused F1 |", "|---|---|---|---|---|"]
        for k, m in metrics["ks"].items():
            if "reader_only" in m:
                lines.append(f"| {k} | {_fmt(m['reader_only']['exact'])} | {_fmt(m['reader_only']['f1'])} | "
                             f"{_fmt(m['reader']['exact'])} | {_fmt(m['reader']['f1'])} |")
    tuning = metrics.get("fusion_tuning")
    if tuning:
        ks = list(metrics["ks"])
        lines += ["", f"Fusion tuning (objective: {tuning['objective']}); EM / F1 per k:", "",
                  "| retriever weight | aggregation | " + " | ".join(f"k={k}" for k in ks) + " | mean F1 |",
                  "|---|---|" + "---|" * len(ks) + "---|"]
        for row in tuning["grid"]:
            cells = " | ".join(f"{row['ks'][k]['exact']:.1f} / {row['ks'][k]['f1']:.1f}" for k in ks)
            lines.append(f"| {row['retriever_weight']:g} | {'on' if row['aggregate_answers'] else 'off'} | {cells} "
                         f"| {row['mean_f1']:.2f} |")
    o = metrics["oracle"]
    lines += ["", f"Oracle reader (gold paragraph only): EM {_fmt(o['exact'])}, F1 {_fmt(o['f1'])}"
              + (f" (HasAns F1 {_fmt(o.get('HasAns_f1'))}, NoAns {_fmt(o.get('NoAns_exact'))})"
                 if "NoAns_exact" in o else "") + "."]
    tuned = metrics.get("oracle_null_threshold") or {}
    if "best_f1" in tuned:
        lines.append(f"Best no-answer threshold on the oracle: {tuned['best_f1_thresh']:.3f} (F1 "
                     f"{tuned['best_f1']:.2f}).")
    report = d["data_report"]
    problems = {k: v for k, v in report.items() if v}
    lines += ["", "Data problems: " + (", ".join(f"{k.replace('_', ' ')} {v}" for k, v in problems.items())
                                       if problems else "none") + "."]
    lines += _calibration_lines(metrics.get("calibration"))
    if "timing" in metrics:
        t = metrics["timing"]
        lines.append(f"Wall time {t['wall_time_s']:.1f} s ({t['questions_per_s']:.2f} questions/s; "
                     f"retrieval {t['retrieval_s']:.1f} s, reading {t['reading_s']:.1f} s).")
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _calibration_lines(report: dict[str, Any] | None) -> list[str]:
    if not report:
        return []

    def cell(m: dict[str, Any]) -> str:
        return f"{_fmt(m['ece'])} / {_fmt(m['brier'])} / {_fmt(m['auroc'])}"

    lines = ["", f"## Calibration (fitted on {report['fitted_on']}, measured on {report['measured_on']})", "",
             "ECE / Brier / AUROC of the best answer's score against exact match; \"present\": the gold paragraph is "
             "among the retrievable passages, \"removed\": it is not (the answer is then almost never there).", "",
             "| k | setting | questions | EM | mean score (calibrated) | calibrated | uncalibrated |",
             "|---|---|---|---|---|---|---|"]
    for k, settings in report["per_k"].items():
        for setting, m in settings.items():
            c = m["calibrated"]
            lines.append(f"| {k} | {setting} | {c['n']} | {_pct(c['accuracy'])} | {_fmt(c['mean_score'])} | "
                         f"{cell(c)} | {cell(m['uncalibrated'])} |")
    a = report["abstention"]
    lines += ["", f"Abstention threshold {a['threshold']:.3f} (on the held-out half): "
              f"{_pct(a['removed_abstained'])}% of gold-removed questions say \"not found\", "
              f"{_pct(a['right_present_kept'])}% of right answers (gold present) are kept; answering "
              f"{_pct(a['coverage'])}% of all questions at {_pct(a['precision'])}% precision."]
    return lines


def _unit_square(axis, xlabel: str, ylabel: str, title: str) -> None:
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)


def plot(metrics: dict[str, Any], path: Path, title: str = "") -> None:
    """EM and F1 (fused and reader-only), retriever and answer recall against k; with a calibration report also
    its reliability diagram and risk-coverage curve (skipped, with a warning, without the eval extra)."""
    try:
        import matplotlib
    except ImportError:
        logger.warning('plot.png not written: matplotlib is not installed (pip install "spanbert-reader[eval]")')
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    ks = [int(k) for k in metrics["ks"]]
    per_k = metrics["ks"]
    series = {
        "EM (reader + retriever, fused)": [per_k[str(k)]["reader"]["exact"] for k in ks],
        "F1 (fused)": [per_k[str(k)]["reader"]["f1"] for k in ks],
        "retriever recall@k (gold paragraph)": [per_k[str(k)]["retriever_recall"] for k in ks],
        "answer recall@k (answer text)": [per_k[str(k)]["answer_recall"] or 0.0 for k in ks],
    }
    if all("reader_only" in per_k[str(k)] for k in ks):
        series["EM, reader-only ranking"] = [per_k[str(k)]["reader_only"]["exact"] for k in ks]
        series["F1, reader-only ranking"] = [per_k[str(k)]["reader_only"]["f1"] for k in ks]
    calibration = metrics.get("calibration")
    panels = 3 if calibration else 1
    figure, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.6), dpi=100, squeeze=False)
    axis = axes[0][0]
    for label, values in series.items():
        axis.plot(ks, values, marker="o", label=label, linestyle=":" if "reader-only" in label else "-")
    axis.axhline(metrics["oracle"]["f1"], linestyle="--", color="grey", label="F1 of the reader on the gold paragraph")
    if len(ks) > 1 and ks[-1] / max(ks[0], 1) >= 4:
        axis.set_xscale("log")
    axis.xaxis.set_major_locator(FixedLocator(ks))
    axis.xaxis.set_minor_locator(NullLocator())
    axis.set_xticklabels([str(k) for k in ks])
    axis.set_xlabel("passages read (k)")
    axis.set_ylabel("%")
    axis.set_ylim(0, 100)
    axis.set_title("Answers against passages read")
    axis.legend(fontsize=7, loc="best", framealpha=0.8)
    axis.grid(alpha=0.3)
    if calibration:
        diagram = axes[0][1]
        diagram.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
        for name, style in (("calibrated", "-o"), ("uncalibrated", ":s")):
            rows = calibration["reliability"][name]
            diagram.plot([r[3] for r in rows], [r[4] for r in rows], style, label=f"{name} score")
        _unit_square(diagram, "score of the best answer", "share that is an exact match",
                     "Reliability (held-out half, gold present + removed)")
        curve = axes[0][2]
        for name, style in (("calibrated", "-"), ("uncalibrated", ":")):
            points = calibration["risk_coverage"][name]
            curve.plot([p[0] for p in points], [p[1] for p in points], style, label=f"ranked by {name} score")
        threshold = calibration["abstention"]
        if threshold["coverage"] is not None and threshold["precision"] is not None:
            curve.plot([threshold["coverage"]], [threshold["precision"]], "o", color="black",
                       label=f"abstain below {threshold['threshold']:.2f}")
        _unit_square(curve, "share of questions answered (coverage)", "precision (exact match)", "Risk-coverage")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def to_evaluation_run_result(result: EvalResult, k: int, run_name: str = "spanbert-eval"):
    """The same run as a Haystack ``EvaluationRunResult`` (AnswerExactMatch, DocumentRecall, DocumentMRR)."""
    from haystack.components.evaluators import (
        AnswerExactMatchEvaluator,
        DocumentMRREvaluator,
        DocumentRecallEvaluator,
    )
    from haystack.evaluation import EvaluationRunResult

    records = result.records
    # Haystack's evaluators compare a Document field; records keep ids, so the id stands in as content.
    gold = [[Document(id=r.gold_id, content=r.gold_id)] for r in records]
    retrieved = [[Document(id=i, content=i) for i in r.retrieved_ids[:k]] for r in records]
    gold_answers = [r.answers[0] if r.answers else "" for r in records]
    predicted = [r.predictions[k] for r in records]
    return EvaluationRunResult(
        run_name=run_name,
        inputs={"question": [r.question for r in records], "ground_truth_answer": gold_answers,
                "predicted_answer": predicted},
        results={
            "exact_match": AnswerExactMatchEvaluator().run(ground_truth_answers=gold_answers,
                                                           predicted_answers=predicted),
            "document_recall": DocumentRecallEvaluator().run(ground_truth_documents=gold,
                                                             retrieved_documents=retrieved),
            "document_mrr": DocumentMRREvaluator().run(ground_truth_documents=gold, retrieved_documents=retrieved),
        },
    )


