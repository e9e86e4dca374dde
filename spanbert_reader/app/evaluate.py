"""The whole open-domain evaluation run behind ``spanbert-qa eval``: build the QA pipeline from settings, index
the dataset's paragraphs (and distractors), evaluate, write the outputs and store tuned settings."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.pipelines import substitute, warm_up_component
from spanbert_reader.app.qa import build_qa_pipeline, question_inputs, reader_of
from spanbert_reader.app.settings import DEFAULT_EVAL_KS, DEFAULT_TOP_K, AppSettings
from spanbert_reader.app.stores import document_stores
from spanbert_reader.evaluation.reading import EvalResult, context_documents, evaluate
from spanbert_reader.evaluation.reporting import write_outputs

logger = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    """What ``spanbert-qa eval`` was asked to do, beyond the pipeline settings."""

    dataset: str
    ks: Sequence[int] = DEFAULT_EVAL_KS
    top_n: int = DEFAULT_TOP_K  # answers per question (--top-k)
    output: str | None = None
    limit: int | None = None
    distractors: Sequence[str] | None = None
    batch_size: int | None = None
    retriever_weight: float | None = None
    tune_fusion: bool = False
    tune_calibration: bool = False
    tune_null_threshold: bool = False
    keep_index: bool = False
    progress: bool = True


@dataclass
class EvalRun:
    """What an evaluation run produced."""

    result: EvalResult
    output: Path
    pipeline: str
    notes: list[str] = field(default_factory=list)  # messages for the user (fallbacks, stored files)
    fusion_profile: str | None = None  # the reader's fusion profile: which fusion.json entry tuning writes


def retrieval_function(pipeline, progress: bool = True):
    """Run a retrieval-only pipeline per question; returns ``retrieve(queries, k)`` giving the retrieved Documents
    of each query, best first."""
    from tqdm.auto import tqdm

    def retrieve(queries: list[str], k: int) -> list:
        results = []
        for query in tqdm(queries, desc="Retrieving", unit="question", disable=not progress):
            output = pipeline.run(question_inputs(pipeline, query, retriever_top_k=k))
            docs = next((v["documents"] for v in output.values() if isinstance(v, dict) and "documents" in v), [])
            results.append(list(docs)[:k])
        return results

    return retrieve


def split_reader(pipeline):
    """Remove the SpanBERTReader from a QA pipeline; return (retrieval-only pipeline, the component)."""
    name = reader_of(pipeline)
    if name is None:
        raise AppError("the pipeline has no SpanBERTReader component to evaluate")
    component = pipeline.get_component(name)
    pipeline.remove_component(name)
    return pipeline, component


def check_options(options: EvalOptions) -> None:
    """Raise AppError for options that cannot work, before any work is done."""
    if not options.ks or min(options.ks) < 1:
        raise AppError("--retriever-top-k values must be at least 1.")
    if options.top_n < 1:
        raise AppError("--top-k must be at least 1.")
    if options.limit is not None and options.limit < 1:
        raise AppError(f"--limit must be at least 1, got {options.limit}.")
    if options.batch_size is not None and options.batch_size < 1:
        raise AppError(f"--batch-size must be at least 1, got {options.batch_size}.")
    if options.retriever_weight is not None and options.retriever_weight < 0:
        raise AppError("--retriever-weight must be >= 0.")
    if options.output and Path(options.output).exists() and not Path(options.output).is_dir():
        raise AppError(f"--output {options.output} is a file; pass a folder for metrics.json, report.md and the rest.")


def needs_embeddings(pipeline) -> bool:
    """True when a retriever of the pipeline searches by ``query_embedding`` (documents need embeddings)."""
    sockets = pipeline.inputs(include_components_with_connected_inputs=True)
    return any("query_embedding" in component_sockets for component_sockets in sockets.values())


def _embed(documents, gold, settings: AppSettings, progress: bool):
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
    )

    overrides = settings.overrides()  # the indexing YAMLs' document prefix, resolved the same way
    embedder = SentenceTransformersDocumentEmbedder(model=overrides["EMBEDDING_MODEL"], progress_bar=progress,
                                                    prefix=substitute("${EMBEDDING_DOCUMENT_PREFIX:-}", overrides))
    warm_up_component("document embedder", embedder)
    documents = embedder.run(documents=documents)["documents"]
    by_id = {d.id: d for d in documents}
    return documents, {key: by_id[doc.id] for key, doc in gold.items()}


def _tuned_scores(metrics: dict) -> dict[str, dict[str, float]]:
    """EM/F1 per k of the stored setting and of the reader alone (weight 0), rounded, for ``fusion.json``."""
    reader_only = next((r for r in metrics["fusion_tuning"]["grid"]
                        if r["retriever_weight"] == 0 and not r["aggregate_answers"]), None)
    scores = {}
    for k, m in metrics["ks"].items():
        scores[k] = {"em": round(m["reader"]["exact"], 2), "f1": round(m["reader"]["f1"], 2)}
        if reader_only is not None:
            scores[k].update(reader_only_em=round(reader_only["ks"][k]["exact"], 2),
                             reader_only_f1=round(reader_only["ks"][k]["f1"], 2))
    return scores


def _store_tuned(run: EvalRun, options: EvalOptions, model: str) -> None:
    from spanbert_reader.inference.side_files import write_calibration, write_fusion, write_null_threshold

    local = Path(model).expanduser()
    target = local if local.is_dir() else run.output
    note = "" if local.is_dir() else " (the model is not a local folder; copy it next to the weights)"
    result = run.result
    if result.tuned_fusion is not None:
        best = result.tuned_fusion
        path = write_fusion(target, best, profile=run.fusion_profile, dataset=str(options.dataset),
                            pipeline=run.pipeline, ks=list(options.ks),
                            objective=result.metrics["fusion_tuning"]["objective"],
                            scores=_tuned_scores(result.metrics))
        entry = f"profile '{run.fusion_profile}'" if run.fusion_profile else "main entry"
        run.notes.append(f"Stored fusion settings ({entry}: retriever weight {best.retriever_weight:g}, aggregation "
                         f"{'on' if best.aggregate else 'off'}) in {path}{note}")
    if result.tuned_calibration is not None:
        path = write_calibration(target, result.tuned_calibration, profile=run.fusion_profile)
        held_out = result.metrics["calibration"]["per_k"].get("all", {}).get("both", {}).get("calibrated", {})
        figures = ", ".join(f"{name} {held_out[name]:.3f}" for name in ("ece", "auroc")
                            if held_out.get(name) is not None)
        run.notes.append(f"Stored the calibration (abstain below {result.tuned_calibration.abstain_threshold:.2f}; "
                         f"held-out {figures or 'figures: too few questions'}) in {path}{note}")
    if options.tune_null_threshold:
        tuned = result.metrics.get("oracle_null_threshold", {})
        if "best_f1_thresh" not in tuned:
            raise AppError("No threshold to tune: the dataset has no questions scored with null odds.")
        path = write_null_threshold(target, tuned["best_f1_thresh"], best_f1=tuned["best_f1"],
                                    dataset=str(options.dataset))
        run.notes.append(f"Stored no-answer threshold {tuned['best_f1_thresh']:.4f} in {path}{note}")


def run_evaluation(settings: AppSettings, options: EvalOptions) -> EvalRun:
    """Evaluate retriever + reader on a SQuAD-format dataset; returns the result and where outputs went.

    The dataset's paragraphs (and distractors) go into a fresh in-memory store, or, with an Elasticsearch
    store, into a new index that is deleted afterwards unless ``keep_index``.
    """
    from haystack import Document
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.document_stores.types import DuplicatePolicy

    from spanbert_reader.data.corpus import read_corpus
    from spanbert_reader.data.squad import load_squad

    check_options(options)
    ks = sorted(set(options.ks))
    try:
        dataset = load_squad(options.dataset)
    except ValueError as exc:
        raise AppError(str(exc)) from exc
    if options.limit:
        dataset.examples = dataset.examples[: options.limit]
    if not dataset.examples:
        raise AppError(f"Dataset {options.dataset} has no usable questions.")
    if not settings.index:  # never write the dataset into the user's index by accident
        settings = settings.with_(index=f"spanbert-eval-{uuid.uuid4().hex[:8]}")
    fresh = InMemoryDocumentStore(index=f"eval-{uuid.uuid4().hex[:8]}")
    reader_values = {"RETRIEVER_WEIGHT": options.retriever_weight, "READER_BATCH_SIZE": options.batch_size}
    built = build_qa_pipeline(settings, memory_store=fresh, require_documents=False,
                              **{k: v for k, v in reader_values.items() if v is not None})
    retrieval, reader = split_reader(built.pipeline)
    stores = [store for _, store in document_stores(retrieval)]
    if not stores:
        raise AppError(f"Pipeline '{built.name}' has no retriever reading a document store.")
    store = stores[0]
    server_index = not isinstance(store, InMemoryDocumentStore)
    documents, gold = context_documents(dataset.examples)
    if options.distractors:
        try:
            extra = read_corpus(options.distractors)
        except FileNotFoundError as exc:
            raise AppError(str(exc)) from exc
        known = {d.content for d in documents}
        documents = documents + [Document(content=t, meta={"distractor": True}) for t in extra if t not in known]
        built.notes.append(f"Indexing {len(documents)} passages ({len(documents) - len(gold)} distractors)")
    if needs_embeddings(retrieval):
        documents, gold = _embed(documents, gold, settings, options.progress)
    store.write_documents(documents, policy=DuplicatePolicy.OVERWRITE)
    try:
        span_reader = reader.span_reader
        span_reader.load()
        setup = {**span_reader.sources, "pipeline": built.name, "dataset": str(options.dataset)}
        result = evaluate(dataset, span_reader, retrieval_function(retrieval, options.progress), gold, ks,
                          top_n=options.top_n, progress=options.progress, tune_fusion=options.tune_fusion,
                          tune_calibration=options.tune_calibration, setup=setup)
    finally:
        if server_index and not options.keep_index:
            try:
                store.client.indices.delete(index=settings.index_name, ignore_unavailable=True)
            except Exception as exc:  # cleanup must not hide the real error
                logger.warning("could not delete index %s: %s", settings.index_name, exc)
    output = Path(options.output or f"eval-{Path(options.dataset).stem}")
    write_outputs(result, output, run_name=f"{Path(options.dataset).name} / {built.name}")
    run = EvalRun(result, output, built.name, built.notes, reader.span_reader.scoring.fusion_profile)
    _store_tuned(run, options, built.model)
    return run
