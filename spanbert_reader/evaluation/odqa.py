"""Open-domain QA evaluation: index a SQuAD dataset's contexts, retrieve for every question, read, and report
where answers are lost (retriever vs. reader).

The reader runs once per question over the top ``max(ks)`` passages and keeps every candidate span; the answers
for each smaller ``k`` are then ranked again from the spans of the first ``k`` passages, with the retriever scores
normalised over those ``k`` passages only. That is exact: passages are decoded independently, and score fusion and
aggregation are recomputed per ``k`` (they depend on the retrieved set) from the reader logits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haystack import Document

from spanbert_reader.data.squad import SquadDataset, SquadExample, dataset_dict
from spanbert_reader.data.text import normalize_answer
from spanbert_reader.evaluation.metrics import compute_exact, score_squad
from spanbert_reader.inference.answers import FusionSettings
from spanbert_reader.inference.engine import QueryPrediction

logger = logging.getLogger(__name__)


def context_documents(examples: Sequence[SquadExample]) -> tuple[list[Document], dict[tuple[int, int], Document]]:
    """One Document per distinct paragraph (meta: title, article and paragraph index)."""
    by_key: dict[tuple[int, int], Document] = {}
    for e in examples:
        if e.context_key not in by_key:
            by_key[e.context_key] = Document(content=e.context, meta={
                "title": e.title, "squad_article": e.article, "squad_paragraph": e.paragraph})
    return list(by_key.values()), by_key


def answer_in(answers: Sequence[str], documents: Sequence[Document]) -> bool:
    """A normalised gold answer occurs in a normalised passage."""
    golds = [f" {normalize_answer(a)} " for a in answers if normalize_answer(a)]
    passages = [f" {normalize_answer(d.content or '')} " for d in documents]
    return any(g in p for g in golds for p in passages)


@dataclass
class QuestionRecord:
    """Everything measured for one question (a line of details.jsonl)."""

    id: str
    question: str
    answers: list[str]
    is_impossible: bool
    gold_id: str
    gold_rank: int | None  # 1-based rank of the gold paragraph among the retrieved ones
    retrieved_ids: list[str]
    predictions: dict[int, str]  # k -> top-1 answer text ("" = no answer)
    top_n: dict[int, list[str]]  # k -> top-n span texts
    answer_in_passages: dict[int, bool]
    oracle_prediction: str = ""
    oracle_null_odds: float = 0.0
    oracle_best_span: str = ""
    reader_only: dict[int, str] = field(default_factory=dict)  # k -> top-1 without fusion (when fusion is on)


@dataclass
class EvalResult:
    """Metrics (``metrics``) and per-question records of an evaluation run."""

    metrics: dict[str, Any]
    records: list[QuestionRecord] = field(default_factory=list)
    dataset: SquadDataset | None = None
    tuned_fusion: FusionSettings | None = None

    def predictions(self, k: int) -> dict[str, str]:
        return {r.id: r.predictions[k] for r in self.records}

    def oracle_predictions(self) -> dict[str, str]:
        return {r.id: r.oracle_prediction for r in self.records}

    def null_odds(self) -> dict[str, float]:
        return {r.id: r.oracle_null_odds for r in self.records}


def _top1(answers) -> str:
    return "" if not answers or answers[0].data is None else answers[0].data


def read_all(reader, queries: list[str], passages: list[list[Document]], chunk: int,
             progress: Callable[[int], None] | None) -> list[QueryPrediction]:
    """Inference-core predictions (all spans kept) for each query over its passages, in chunks.

    Under ``accelerate launch`` with several processes, questions are split between the processes (data
    parallel) and the predictions gathered back in order.
    """
    try:
        from accelerate import PartialState
    except ImportError:  # without the train extra there is one process
        return _read_chunks(reader, queries, passages, chunk, progress)
    state = PartialState()
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        indices = list(range(len(queries)))
        with state.split_between_processes(indices) as mine:
            local = _read_chunks(reader, [queries[i] for i in mine], [passages[i] for i in mine], chunk, progress)
            pairs = list(zip(mine, local, strict=True))
        gathered = gather_object(pairs)
        ordered = dict(gathered)
        return [ordered[i] for i in indices]
    return _read_chunks(reader, queries, passages, chunk, progress)


def _read_chunks(reader, queries: list[str], passages: list[list[Document]], chunk: int,
                 progress: Callable[[int], None] | None) -> list[QueryPrediction]:
    engine = reader.engine
    results: list[QueryPrediction] = []
    for start in range(0, len(queries), chunk):
        part_q = queries[start: start + chunk]
        part_p = [[d.content for d in docs] for docs in passages[start: start + chunk]]
        results.extend(engine.predict(part_q, part_p, top_k=None, overlap_threshold=reader.overlap_threshold))
        if progress:
            progress(len(part_q))
    return results


class _Ranker:
    """Answers of one question at one ``k`` under some fusion settings (the reader's scoring and no-answer rule)."""

    def __init__(self, reader, top_n: int) -> None:
        self.reader = reader
        self.top_n = top_n

    def top(self, question: str, docs: Sequence[Document], prediction: QueryPrediction, k: int,
            fusion: FusionSettings | None):
        first = prediction.first(k)
        ranked = first.ranked([d.content for d in docs[:k]], [d.score for d in docs[:k]], fusion, None,
                              self.reader.overlap_threshold)
        return self.reader.build_answers(question, list(docs[:k]), ranked, self.top_n)


FUSION_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0)


def evaluate(dataset: SquadDataset, reader, retrieve: Callable[[list[str], int], list[list[Document]]],
             gold_documents: dict[tuple[int, int], Document], ks: Sequence[int], top_n: int = 5,
             chunk: int = 256, progress: bool = True, tune_fusion: bool = False) -> EvalResult:
    """Retrieve for every question, read, and compute every metric for each ``k`` in ``ks``.

    With ``tune_fusion`` the retriever weight and aggregation are grid-searched (maximising mean F1 over ``ks``)
    before the answers are computed, and the reader's fusion settings are set to the best ones
    (``EvalResult.tuned_fusion``).
    """
    from tqdm.auto import tqdm

    ks = sorted(set(ks))
    max_k = ks[-1]
    examples = dataset.examples
    queries = [e.question for e in examples]
    started = time.perf_counter()
    retrieved = retrieve(queries, max_k)
    retrieval_time = time.perf_counter() - started
    bar = tqdm(total=2 * len(queries), desc="Reading", unit="question", disable=not progress)
    read_started = time.perf_counter()
    open_predictions = read_all(reader, queries, retrieved, chunk, bar.update)
    gold_passages = [[gold_documents[e.context_key]] for e in examples]
    oracle_predictions = read_all(reader, queries, gold_passages, chunk, bar.update)
    bar.close()
    read_time = time.perf_counter() - read_started
    ranker = _Ranker(reader, top_n)

    tuning = None
    if tune_fusion:
        tuning = tune_fusion_settings(dataset, ranker, retrieved, open_predictions, ks, reader.fusion,
                                      progress=progress)
        reader.fusion = tuning["best"]
    fusion = reader.fusion

    records: list[QuestionRecord] = []
    for e, docs, gold, prediction, oracle in zip(examples, retrieved, gold_passages, open_predictions,
                                                 oracle_predictions, strict=True):
        gold_id = gold[0].id
        ids = [d.id for d in docs]
        record = QuestionRecord(e.id, e.question, e.answers, e.is_impossible, gold_id,
                                ids.index(gold_id) + 1 if gold_id in ids else None, ids, {}, {}, {})
        for k in ks:
            answers = ranker.top(e.question, docs, prediction, k, fusion)
            record.predictions[k] = _top1(answers)
            record.top_n[k] = [a.data for a in answers if a.data is not None][:top_n]
            record.answer_in_passages[k] = answer_in(e.answers, docs[:k])
            if fusion.active:
                record.reader_only[k] = _top1(ranker.top(e.question, docs, prediction, k, None))
        record.oracle_prediction = _top1(reader.build_answers(e.question, gold, oracle, 1))
        record.oracle_null_odds = oracle.null_odds
        record.oracle_best_span = oracle.best_text([e.context])
        records.append(record)
    metrics = compute_metrics(dataset, records, ks, top_n)
    metrics["fusion"] = {"retriever_weight": fusion.retriever_weight, "retriever_normalization": fusion.normalization,
                         "aggregate_answers": fusion.aggregate}
    if tuning is not None:
        metrics["fusion_tuning"] = {"objective": "mean F1 over k", "grid": tuning["grid"]}
    total_time = time.perf_counter() - started
    metrics["timing"] = {
        "questions": len(examples), "wall_time_s": total_time, "retrieval_s": retrieval_time, "reading_s": read_time,
        "questions_per_s": len(examples) / total_time if total_time else None,
        "passages_read": sum(len(d) for d in retrieved) + len(examples),
    }
    return EvalResult(metrics, records, dataset, tuning["best"] if tuning else None)


def tune_fusion_settings(dataset: SquadDataset, ranker: _Ranker, retrieved: Sequence[Sequence[Document]],
                         predictions: Sequence[QueryPrediction], ks: Sequence[int], current: FusionSettings,
                         weights: Sequence[float] = FUSION_WEIGHTS, progress: bool = True) -> dict[str, Any]:
    """Grid-search ``retriever_weight`` × aggregation on/off (normalisation kept) for the best mean F1 over
    ``ks``; returns ``{"best": FusionSettings, "grid": [rows]}`` (each row: settings, EM and F1 per k)."""
    from tqdm.auto import tqdm

    clean = dataset_dict(dataset.examples)
    grid = [FusionSettings(w, current.normalization, aggregate) for aggregate in (False, True) for w in weights]
    rows = []
    for settings in tqdm(grid, desc="Tuning fusion", unit="setting", disable=not progress):
        per_k = {}
        for k in ks:
            texts = {e.id: _top1(ranker.top(e.question, docs, p, k, settings))
                     for e, docs, p in zip(dataset.examples, retrieved, predictions, strict=True)}
            scores = score_squad(clean, texts)
            per_k[str(k)] = {"exact": scores["exact"], "f1": scores["f1"]}
        mean_f1 = sum(v["f1"] for v in per_k.values()) / len(per_k)
        rows.append({"retriever_weight": settings.retriever_weight, "aggregate_answers": settings.aggregate,
                     "retriever_normalization": settings.normalization, "mean_f1": mean_f1, "ks": per_k})
    best_index = max(range(len(rows)), key=lambda i: (round(rows[i]["mean_f1"], 6), -i))
    return {"best": grid[best_index], "grid": rows}


def compute_metrics(dataset: SquadDataset, records: Sequence[QuestionRecord], ks: Sequence[int], top_n: int
                    ) -> dict[str, Any]:
    """All reported numbers from per-question records (scores through the official-compatible scorer)."""
    examples = {e.id: e for e in dataset.examples}
    clean = dataset_dict([examples[r.id] for r in records])
    has = [r for r in records if not r.is_impossible]
    per_k: dict[str, Any] = {}
    for k in ks:
        scores = score_squad(clean, {r.id: r.predictions[k] for r in records})
        n_total = len(records)
        per_k[str(k)] = {
            "reader": scores,
            **({"reader_only": score_squad(clean, {r.id: r.reader_only[k] for r in records})}
               if records and k in records[0].reader_only else {}),
            "top_n_accuracy": (100.0 * sum(any(compute_exact(g, p) for g in r.answers for p in r.top_n[k])
                                           for r in has) / len(has)) if has else None,
            "retriever_recall": 100.0 * sum(r.gold_rank is not None and r.gold_rank <= k for r in records) / n_total,
            "answer_recall": (100.0 * sum(r.answer_in_passages[k] for r in has) / len(has)) if has else None,
            "mrr": sum(1.0 / r.gold_rank for r in records if r.gold_rank is not None and r.gold_rank <= k) / n_total,
        }
    oracle = score_squad(clean, {r.id: r.oracle_prediction for r in records})
    oracle_odds = score_squad(clean, {r.id: r.oracle_best_span for r in records},
                              na_probs={r.id: r.oracle_null_odds for r in records})
    return {
        "dataset": {"questions": len(records), "has_answer": len(has), "no_answer": len(records) - len(has),
                    "data_report": dataset.report.as_dict()},
        "top_n": top_n,
        "ks": per_k,
        "oracle": oracle,
        "oracle_null_threshold": {k: oracle_odds[k] for k in ("best_exact", "best_exact_thresh", "best_f1",
                                                               "best_f1_thresh") if k in oracle_odds},
    }


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
    plot(result.metrics, paths["plot.png"])
    return paths


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_report(metrics: dict[str, Any], run_name: str) -> str:
    """A human-readable summary of ``metrics``."""
    d = metrics["dataset"]
    lines = [f"# Open-domain QA evaluation: {run_name}", "",
             f"{d['questions']} questions ({d['has_answer']} answerable, {d['no_answer']} impossible).", "",
             "| k | reader EM | reader F1 | HasAns F1 | NoAns acc. | top-n acc. | retriever recall@k "
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
    if "timing" in metrics:
        t = metrics["timing"]
        lines.append(f"Wall time {t['wall_time_s']:.1f} s ({t['questions_per_s']:.2f} questions/s; "
                     f"retrieval {t['retrieval_s']:.1f} s, reading {t['reading_s']:.1f} s).")
    return "\n".join(lines) + "\n"


def plot(metrics: dict[str, Any], path: Path) -> None:
    """EM, F1 (fused and reader-only), retriever recall and answer recall against k (skipped, with a warning,
    without the eval extra)."""
    try:
        import matplotlib
    except ImportError:
        logger.warning('plot.png not written: matplotlib is not installed (pip install "spanbert-reader[eval]")')
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [int(k) for k in metrics["ks"]]
    series = {
        "reader EM": [metrics["ks"][str(k)]["reader"]["exact"] for k in ks],
        "reader F1": [metrics["ks"][str(k)]["reader"]["f1"] for k in ks],
        "retriever recall@k": [metrics["ks"][str(k)]["retriever_recall"] for k in ks],
        "answer recall@k": [metrics["ks"][str(k)]["answer_recall"] or 0.0 for k in ks],
    }
    if all("reader_only" in metrics["ks"][str(k)] for k in ks):
        series["reader-only EM"] = [metrics["ks"][str(k)]["reader_only"]["exact"] for k in ks]
        series["reader-only F1"] = [metrics["ks"][str(k)]["reader_only"]["f1"] for k in ks]
    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    for label, values in series.items():
        axis.plot(ks, values, marker="o", label=label, linestyle=":" if label.startswith("reader-only") else "-")
    axis.axhline(metrics["oracle"]["f1"], linestyle="--", color="grey", label="oracle reader F1")
    axis.set_xscale("log")
    axis.set_xticks(ks)
    axis.set_xticklabels([str(k) for k in ks])
    axis.set_xlabel("retrieved passages (k)")
    axis.set_ylabel("%")
    axis.set_ylim(0, 100)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
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


def retrieval_function(pipeline, progress: bool = True) -> Callable[[list[str], int], list[list[Document]]]:
    """Run a retrieval-only pipeline per question; returns the retrieved Documents (best first)."""
    from tqdm.auto import tqdm

    from spanbert_reader.app.qa import question_inputs

    def retrieve(queries: list[str], k: int) -> list[list[Document]]:
        results = []
        for query in tqdm(queries, desc="Retrieving", unit="question", disable=not progress):
            output = pipeline.run(question_inputs(pipeline, query, retriever_top_k=k))
            docs = next((v["documents"] for v in output.values() if isinstance(v, dict) and "documents" in v), [])
            results.append(list(docs)[:k])
        return results

    return retrieve


def split_reader(pipeline):
    """Remove the SpanBERTReader from a QA pipeline; return (retrieval-only pipeline, reader)."""
    from spanbert_reader.component import SpanBERTReader

    for name in list(pipeline.graph.nodes):
        component = pipeline.get_component(name)
        if isinstance(component, SpanBERTReader):
            pipeline.remove_component(name)
            return pipeline, component
    raise ValueError("the pipeline has no SpanBERTReader component to evaluate")
