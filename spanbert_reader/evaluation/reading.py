"""Open-domain QA evaluation, the reading part: index a SQuAD dataset's contexts, retrieve for every question,
read, and measure where answers are lost (retriever vs. reader).

The reader runs once per question over the top ``max(ks)`` passages and keeps every candidate span; the answers
for each smaller ``k`` are then ranked again from the spans of the first ``k`` passages, with the retriever scores
normalised over those ``k`` passages only. That is exact: passages are decoded independently, and score fusion and
aggregation are recomputed per ``k`` (they depend on the retrieved set) from the reader logits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from haystack import Document

from spanbert_reader.data.squad import SquadDataset, SquadExample, dataset_dict
from spanbert_reader.data.text import answer_occurs
from spanbert_reader.evaluation.metrics import compute_exact, score_squad
from spanbert_reader.evaluation.tuning import tune_fusion_settings
from spanbert_reader.inference.engine import QueryPrediction
from spanbert_reader.inference.ranking import FusionSettings, rerank
from spanbert_reader.inference.reader import SpanReader, ranked_answers, top_text

READER_ONLY = FusionSettings(retriever_weight=0.0, aggregate=False)


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
    return answer_occurs(answers, [d.content or "" for d in documents])


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
    tuned_calibration: Any = None  # calibration.Calibration fitted by tune_calibration

    def predictions(self, k: int) -> dict[str, str]:
        return {r.id: r.predictions[k] for r in self.records}

    def oracle_predictions(self) -> dict[str, str]:
        return {r.id: r.oracle_prediction for r in self.records}

    def null_odds(self) -> dict[str, float]:
        return {r.id: r.oracle_null_odds for r in self.records}


def read_all(reader: SpanReader, queries: list[str], passages: list[list[Document]], chunk: int,
             progress: Callable[[int], None] | None) -> list[QueryPrediction]:
    """Every candidate span of each query over its passages (with their retriever scores), in chunks.

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


def _read_chunks(reader: SpanReader, queries: list[str], passages: list[list[Document]], chunk: int,
                 progress: Callable[[int], None] | None) -> list[QueryPrediction]:
    results: list[QueryPrediction] = []
    for start in range(0, len(queries), chunk):
        part = passages[start: start + chunk]
        results.extend(reader.predict(queries[start: start + chunk], [[d.content for d in docs] for docs in part],
                                      [[d.score for d in docs] for docs in part], progress=progress))
    return results


def evaluate(dataset: SquadDataset, reader: SpanReader, retrieve: Callable[[list[str], int], list[list[Document]]],
             gold_documents: dict[tuple[int, int], Document], ks: Sequence[int], top_n: int = 5,
             chunk: int = 256, progress: bool = True, tune_fusion: bool = False, tune_calibration: bool = False,
             setup: dict[str, Any] | None = None) -> EvalResult:
    """Retrieve for every question, read, and compute every metric for each ``k`` in ``ks``.

    Answers are ranked with the reader's settings; with ``tune_fusion`` the retriever weight and aggregation are
    grid-searched first (maximising mean F1 over ``ks``) and the answers are those of the best setting, returned
    as ``EvalResult.tuned_fusion`` (the reader is not changed). With ``tune_calibration`` every question is also
    read with its gold paragraph removed from the retrieved passages, and a calibration is fitted and measured on
    both settings (:mod:`spanbert_reader.evaluation.calibrating`), returned as ``EvalResult.tuned_calibration``.
    ``setup`` (model, pipeline, where fusion and calibration came from) is recorded in the metrics.
    """
    from tqdm.auto import tqdm

    ks = sorted(set(ks))
    max_k = ks[-1]
    examples = dataset.examples
    queries = [e.question for e in examples]
    started = time.perf_counter()
    fetched = retrieve(queries, max_k + 1 if tune_calibration else max_k)  # one more: the gold may be dropped
    retrieved = [docs[:max_k] for docs in fetched]
    retrieval_time = time.perf_counter() - started
    read_started = time.perf_counter()
    with tqdm(total=len(queries), desc=f"Reading top {max_k}", unit="question", disable=not progress) as bar:
        open_predictions = read_all(reader, queries, retrieved, chunk, bar.update)
    gold_passages = [[gold_documents[e.context_key]] for e in examples]
    with tqdm(total=len(queries), desc="Reading gold paragraphs", unit="question", disable=not progress) as bar:
        oracle_predictions = read_all(reader, queries, gold_passages, chunk, bar.update)
    removed_predictions = None
    if tune_calibration:
        removed = [[d for d in docs if d.id != gold_documents[e.context_key].id][:max_k]
                   for e, docs in zip(examples, fetched, strict=True)]
        with tqdm(total=len(queries), desc=f"Reading top {max_k}, gold removed", unit="question",
                  disable=not progress) as bar:
            removed_predictions = read_all(reader, queries, removed, chunk, bar.update)
    read_time = time.perf_counter() - read_started
    settings = reader.settings

    tuning = None
    if tune_fusion:
        tuning = tune_fusion_settings(dataset, settings, open_predictions, ks, top_n, progress=progress)
        settings = settings.with_fusion(tuning["best"])
    fusion = settings.fusion
    calibration, calibration_report = None, None
    if removed_predictions is not None:
        from spanbert_reader.evaluation.calibrating import calibration_study

        calibration, calibration_report = calibration_study(
            examples, settings, {"present": open_predictions, "removed": removed_predictions}, ks)
        settings = replace(settings, calibration=calibration)

    records: list[QuestionRecord] = []
    for e, docs, gold, prediction, oracle in zip(examples, retrieved, gold_passages, open_predictions,
                                                 oracle_predictions, strict=True):
        gold_id = gold[0].id
        ids = [d.id for d in docs]
        record = QuestionRecord(e.id, e.question, e.answers, e.is_impossible, gold_id,
                                ids.index(gold_id) + 1 if gold_id in ids else None, ids, {}, {}, {})
        for k in ks:
            answers = ranked_answers(prediction, settings, top_n, k)
            record.predictions[k] = top_text(answers)
            record.top_n[k] = [a.text for a in answers if a.text is not None][:top_n]
            record.answer_in_passages[k] = answer_in(e.answers, docs[:k])
            if fusion.active:
                record.reader_only[k] = top_text(ranked_answers(prediction, settings.with_fusion(READER_ONLY), 1, k))
        record.oracle_prediction = top_text(ranked_answers(oracle, settings, 1))
        record.oracle_null_odds = oracle.null_odds
        record.oracle_best_span = rerank(oracle, None, top_k=1).best_text
        records.append(record)
    metrics = compute_metrics(dataset, records, ks, top_n)
    metrics["fusion"] = {"retriever_weight": fusion.retriever_weight, "retriever_normalization": fusion.normalization,
                         "aggregate_answers": fusion.aggregate}
    if tuning is not None:
        metrics["fusion_tuning"] = {"objective": "mean F1 over k", "grid": tuning["grid"]}
    if calibration_report is not None:
        metrics["calibration"] = calibration_report
    if setup:
        metrics["setup"] = dict(setup)
    total_time = time.perf_counter() - started
    metrics["timing"] = {
        "questions": len(examples), "wall_time_s": total_time, "retrieval_s": retrieval_time, "reading_s": read_time,
        "questions_per_s": len(examples) / total_time if total_time else None,
        "passages_read": sum(len(d) for d in retrieved) + len(examples),
    }
    return EvalResult(metrics, records, dataset, tuning["best"] if tuning else None, calibration)


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


