"""``spanbert-qa``: index documents, ask questions, list pipelines (more commands arrive with later work)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from spanbert_reader.version import __version__

EXIT_USAGE = 2


class CLIError(Exception):
    """An error reported to the user as a message (no traceback) with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=["memory", "elasticsearch"], default="memory",
                        help="document store (default: the embedded in-memory store)")
    parser.add_argument("--index", default=None, help="index name (default: 'default' in memory, 'spanbert' in ES)")
    parser.add_argument("--data-dir", default=None,
                        help="where in-memory indexes are saved (default: $SPANBERT_DATA_DIR or the user cache dir)")
    parser.add_argument("--es-url", default=None,
                        help="Elasticsearch URL (default: $ELASTICSEARCH_URL or http://localhost:9200)")
    parser.add_argument("--embedding-model", default=None,
                        help="sentence-transformers model for --embed / the hybrid pipeline ($EMBEDDING_MODEL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spanbert-qa",
                                     description="SpanBERT extractive question answering for Haystack.")
    parser.add_argument("--version", action="version", version=f"spanbert-qa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("pipelines", help="list the bundled pipelines")

    index = sub.add_parser("index", help="index files (.txt .md .html .pdf, SQuAD .json, .jsonl) for asking")
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    _store_args(index)
    index.add_argument("--embed", action="store_true", help="also store sentence-transformers embeddings")
    index.add_argument("--pipeline", default=None, help="indexing pipeline name or YAML file")
    index.add_argument("--split-length", type=int, default=None, help="words per passage (default 150)")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")

    ask = sub.add_parser("ask", help="answer a question (interactive when none is given)")
    ask.add_argument("question", nargs="?", default=None)
    _store_args(ask)
    ask.add_argument("--pipeline", default=None,
                     help="QA pipeline name or YAML file (default: inmemory_qa or elasticsearch_qa)")
    ask.add_argument("--model", default=None,
                     help="reader checkpoint folder or hub id (default: $SPANBERT_MODEL or a hub SpanBERT SQuAD 2.0)")
    ask.add_argument("--top-k", type=int, default=3, help="answers to show")
    ask.add_argument("--retriever-top-k", type=int, default=10, help="passages the retriever hands the reader")
    ask.add_argument("--json", action="store_true", help="print JSON instead of a table")

    score = sub.add_parser("score", help="score SQuAD 1.1/2.0 predictions like the official script (JSON out)")
    score.add_argument("--dataset", required=True, help="SQuAD-format dataset JSON")
    score.add_argument("--predictions", required=True, help="JSON map: question id -> answer text ('' = none)")
    score.add_argument("--null-odds", default=None, help="JSON map: question id -> no-answer odds")
    score.add_argument("--null-threshold", type=float, default=1.0, help="no-answer when odds exceed this")

    ev = sub.add_parser("eval", help="open-domain evaluation of retriever + reader on a SQuAD-format dataset")
    ev.add_argument("--dataset", required=True, help="SQuAD 1.1/2.0 JSON file")
    _store_args(ev)
    ev.add_argument("--pipeline", default=None, help="QA pipeline name or YAML (default: inmemory_qa / "
                    "elasticsearch_qa)")
    ev.add_argument("--model", default=None, help="reader checkpoint folder or hub id")
    ev.add_argument("--retriever-top-k", default="1,5,10,20", help="comma-separated k values (default 1,5,10,20)")
    ev.add_argument("--top-n", type=int, default=5, help="answers considered for top-n accuracy")
    ev.add_argument("--output", default=None, help="folder for metrics.json, predictions.json, report.md, plot.png")
    ev.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    ev.add_argument("--tune-null-threshold", action="store_true",
                    help="store the F1-maximising no-answer threshold in the model folder")
    ev.add_argument("--tune-fusion", action="store_true",
                    help="grid-search the retriever weight and answer aggregation on this dataset and store the best "
                         "in the model folder (fusion.json)")
    ev.add_argument("--retriever-weight", type=float, default=None,
                    help="score-fusion weight to evaluate (default: the model's fusion.json, else the built-in one)")
    ev.add_argument("--keep-index", action="store_true", help="keep the Elasticsearch evaluation index")
    ev.add_argument("--distractors", nargs="+", default=None, metavar="PATH",
                    help="extra passages indexed beside the dataset's paragraphs (text, JSONL, JSON records)")
    ev.add_argument("--batch-size", type=int, default=None, help="reader windows per batch")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")

    tr = sub.add_parser("train", help="fine-tune a checkpoint for extractive QA on SQuAD 1.1/2.0 JSON")
    tr.add_argument("--train", required=True, help="SQuAD-format training file")
    tr.add_argument("--dev", default=None, help="SQuAD-format dev file (EM/F1 during training, best kept)")
    tr.add_argument("--model", required=True, help="checkpoint folder or hub id (base or QA)")
    tr.add_argument("--output", required=True, help="output folder (HF-format checkpoint + tokenizer)")
    tr.add_argument("--max-seq-length", type=int, default=384)
    tr.add_argument("--stride", type=int, default=128, help="tokens of overlap between windows")
    tr.add_argument("--max-query-length", type=int, default=64)
    tr.add_argument("--learning-rate", "--lr", type=float, default=2e-5)
    tr.add_argument("--weight-decay", type=float, default=0.01)
    tr.add_argument("--warmup-ratio", type=float, default=0.1)
    tr.add_argument("--batch-size", type=int, default=32, help="effective batch size")
    tr.add_argument("--per-device-batch-size", type=int, default=None,
                    help="windows per forward pass (gradient accumulation makes up --batch-size)")
    tr.add_argument("--epochs", type=float, default=4.0)
    tr.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    tr.add_argument("--gradient-checkpointing", action="store_true")
    tr.add_argument("--eval-steps", type=int, default=None, help="dev evaluation every N steps (default: per epoch)")
    tr.add_argument("--save-steps", type=int, default=None, help="save resumable state every N steps")
    tr.add_argument("--resume", action="store_true", help="continue from the state saved in --output")
    tr.add_argument("--stop-after", type=int, default=None,
                    help="stop this run after N steps, saving resumable state (for time-sliced jobs)")
    tr.add_argument("--train-limit", type=int, default=None, help="use only the first N training questions")
    tr.add_argument("--dev-limit", type=int, default=None, help="use only the first N dev questions")
    tr.add_argument("--shared-norm", action="store_true",
                    help="one softmax over all windows of all passages of a question (comparable logits across "
                         "passages); use with --distractors")
    tr.add_argument("--distractors", type=int, default=0,
                    help="with --shared-norm: training paragraphs retrieved by BM25 read beside the gold one")
    tr.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    tr.add_argument("--no-progress", action="store_true")

    sv = sub.add_parser("serve", help="serve the QA pipeline over HTTP (Hayhooks): POST /spanbert_qa/run")
    _store_args(sv)
    sv.add_argument("--pipeline", default=None, help="QA pipeline name or YAML file")
    sv.add_argument("--model", default=None, help="reader checkpoint folder or hub id")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=1416)
    sv.add_argument("--max-body-bytes", type=int, default=64 * 1024, help="larger requests get 413")

    pt = sub.add_parser("pretrain", help="continue pre-training with span masking + span boundary objective")
    source = pt.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", nargs="+", help="text/markdown files, JSONL or SQuAD JSON, or folders")
    source.add_argument("--from-index", default=None, metavar="NAME", help="documents of an existing index")
    pt.add_argument("--store", choices=["memory", "elasticsearch"], default="memory")
    pt.add_argument("--data-dir", default=None)
    pt.add_argument("--es-url", default=None)
    pt.add_argument("--model", required=True, help="encoder checkpoint folder or hub id")
    pt.add_argument("--output", required=True)
    pt.add_argument("--max-seq-length", type=int, default=512)
    pt.add_argument("--batch-size", type=int, default=32)
    pt.add_argument("--per-device-batch-size", type=int, default=None)
    pt.add_argument("--learning-rate", "--lr", type=float, default=1e-4)
    pt.add_argument("--warmup-ratio", type=float, default=0.1)
    pt.add_argument("--epochs", type=float, default=1.0)
    pt.add_argument("--max-steps", type=int, default=None)
    pt.add_argument("--mask-ratio", type=float, default=0.15)
    pt.add_argument("--seed", type=int, default=42)
    pt.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    pt.add_argument("--gradient-checkpointing", action="store_true")
    pt.add_argument("--cpu", action="store_true")
    pt.add_argument("--no-progress", action="store_true")
    return parser


def _overrides(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    es_url = args.es_url or os.environ.get("ELASTICSEARCH_URL") or "http://localhost:9200"
    index = args.index or ("spanbert" if args.store == "elasticsearch" else "default")
    overrides = {"ELASTICSEARCH_URL": es_url, "INDEX": index, "EMBEDDING_MODEL": args.embedding_model}
    overrides.update(extra)
    return overrides


def _load(pipeline_name: str, overrides: dict[str, Any]):
    from spanbert_reader.pipelines import PipelineError, load_pipeline

    try:
        return load_pipeline(pipeline_name, overrides)
    except PipelineError as exc:
        raise CLIError(str(exc)) from exc


def cmd_pipelines(args: argparse.Namespace) -> int:
    from spanbert_reader.pipelines import list_pipelines

    for name, info in list_pipelines().items():
        print(f"{name:32s} {info.description}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from spanbert_reader.indexing import collect_files, run_indexing
    from spanbert_reader.querying import inject_store
    from spanbert_reader.stores import StoreError, check_elasticsearch, load_memory_store, save_memory_store

    overrides = _overrides(args, SPLIT_LENGTH=args.split_length)
    files, skipped = collect_files(args.paths)
    if args.store == "elasticsearch":
        name = args.pipeline or ("elasticsearch_hybrid_indexing" if args.embed else "elasticsearch_indexing")
        try:
            check_elasticsearch(overrides["ELASTICSEARCH_URL"])
        except StoreError as exc:
            raise CLIError(str(exc)) from exc
    else:
        name = args.pipeline or ("inmemory_embedding_indexing" if args.embed else "inmemory_indexing")
    pipeline = _load(name, overrides)
    store = None
    if args.store == "memory":
        try:
            store = load_memory_store(overrides["INDEX"], args.data_dir, must_exist=False)
        except StoreError as exc:
            raise CLIError(str(exc)) from exc
        inject_store(pipeline, store)
    passages = run_indexing(pipeline, files, progress=not args.no_progress) if files else 0
    if store is not None:
        where = str(save_memory_store(store, overrides["INDEX"], args.data_dir))
    else:
        where = f"{overrides['ELASTICSEARCH_URL']} index '{overrides['INDEX']}'"
    print(f"Indexed {len(files)} file(s) into {passages} passage(s) -> {where}")
    if skipped:
        print(f"Skipped {len(skipped)} file(s):")
        for path, reason in skipped:
            print(f"  {path}: {reason}")
    if not files:
        raise CLIError("No indexable files found.", code=1)
    return 0


def _qa_pipeline(args: argparse.Namespace):
    from spanbert_reader.component import DEFAULT_MODEL
    from spanbert_reader.models import demo_model_path, explicit_model
    from spanbert_reader.querying import inject_store
    from spanbert_reader.stores import StoreError, check_elasticsearch, has_embeddings, load_memory_store

    chosen = explicit_model(args.model)
    overrides = _overrides(args, SPANBERT_MODEL=chosen or DEFAULT_MODEL, READER_TOP_K=args.top_k,
                           RETRIEVER_TOP_K=args.retriever_top_k)
    name = args.pipeline or ("elasticsearch_qa" if args.store == "elasticsearch" else "inmemory_qa")
    try:
        if args.store == "elasticsearch":
            check_elasticsearch(overrides["ELASTICSEARCH_URL"], overrides["INDEX"], must_exist=True)
            store = None
        else:
            store = load_memory_store(overrides["INDEX"], args.data_dir, must_exist=True)
            if store.count_documents() == 0:
                raise StoreError(f"The in-memory index '{overrides['INDEX']}' is empty: run `spanbert-qa index "
                                 "PATH...` first.")
            if args.pipeline is None and has_embeddings(store):
                name = "inmemory_hybrid_qa"  # the index was built with --embed: BM25 + dense retrieval
    except StoreError as exc:
        raise CLIError(str(exc)) from exc
    from spanbert_reader.modeling import CheckpointError

    def build(model: str):
        pipeline = _load(name, {**overrides, "SPANBERT_MODEL": model})
        if store is not None:
            inject_store(pipeline, store)
        pipeline.warm_up()
        return pipeline

    try:
        return build(overrides["SPANBERT_MODEL"])
    except CheckpointError as exc:
        demo = demo_model_path()
        if chosen is None and demo is not None:
            print(f"spanbert-qa: the default hub model {DEFAULT_MODEL} is not available ({type(exc).__name__}); "
                  f"using the bundled small demo model {demo} instead. Pass --model for a real SpanBERT "
                  "checkpoint.", file=sys.stderr)
            return build(str(demo))
        raise CLIError(f"{exc}\nPass a local reader checkpoint with --model PATH or SPANBERT_MODEL=PATH.") from exc


def _answer(pipeline, question: str, args: argparse.Namespace) -> None:
    from spanbert_reader.querying import answer_records, find_answers, format_table, question_inputs

    result = pipeline.run(question_inputs(pipeline, question))
    answers = find_answers(result)
    if args.json:
        print(json.dumps({"question": question, "answers": answer_records(answers)}, ensure_ascii=False))
    else:
        print(format_table(question, answers))
    sys.stdout.flush()


def cmd_ask(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.retriever_top_k < 1:
        raise CLIError("--top-k and --retriever-top-k must be at least 1.")
    if args.question is not None and not args.question.strip():
        raise CLIError("The question is empty.")
    pipeline = _qa_pipeline(args)
    if args.question is not None:
        _answer(pipeline, args.question, args)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask a question (empty line or Ctrl-D to quit).", file=sys.stderr)
    while True:
        if interactive:
            print("question> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()) or line.strip() in ("exit", "quit"):
            return 0
        if line.strip():
            _answer(pipeline, line.strip(), args)


def _read_json_map(path: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, json.JSONDecodeError) as exc:
        raise CLIError(f"Cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CLIError(f"{what.capitalize()} {path} must be a JSON object mapping question ids to values.")
    return data


def cmd_score(args: argparse.Namespace) -> int:
    from spanbert_reader.data.squad import load_squad
    from spanbert_reader.evaluation.metrics import score_squad

    try:
        dataset = load_squad(args.dataset)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    predictions = _read_json_map(args.predictions, "predictions")
    bad = [k for k, v in predictions.items() if not isinstance(v, str)]
    if bad:
        raise CLIError(f"Predictions must be strings; {len(bad)} are not (first: {bad[0]!r}).")
    odds = None
    if args.null_odds:
        odds = {k: float(v) for k, v in _read_json_map(args.null_odds, "null odds").items()}
    result = score_squad(dataset.raw, predictions, odds, args.null_threshold)
    missing = result.pop("missing", [])
    if missing:
        print(f"spanbert-qa score: {len(missing)} question(s) have no prediction and were left out (as the "
              "official script does)", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import uuid
    from pathlib import Path

    from spanbert_reader.data.squad import load_squad
    from spanbert_reader.evaluation.odqa import (
        context_documents,
        document_store_of,
        evaluate,
        retrieval_function,
        split_reader,
        write_outputs,
    )
    from spanbert_reader.modeling import CheckpointError
    from spanbert_reader.querying import inject_store
    from spanbert_reader.stores import StoreError, check_elasticsearch

    try:
        ks = sorted({int(k) for k in args.retriever_top_k.split(",") if k.strip()})
    except ValueError as exc:
        raise CLIError(f"--retriever-top-k must be comma-separated integers, got {args.retriever_top_k!r}") from exc
    if not ks or ks[0] < 1:
        raise CLIError("--retriever-top-k values must be at least 1.")
    try:
        dataset = load_squad(args.dataset)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if args.limit:
        dataset.examples = dataset.examples[: args.limit]
    if not dataset.examples:
        raise CLIError(f"Dataset {args.dataset} has no usable questions.")
    from spanbert_reader.component import DEFAULT_MODEL

    model = args.model or os.environ.get("SPANBERT_MODEL") or DEFAULT_MODEL
    if args.store == "elasticsearch" and not args.index:
        args.index = f"spanbert-eval-{uuid.uuid4().hex[:8]}"
    overrides = _overrides(args, SPANBERT_MODEL=model, RETRIEVER_TOP_K=ks[-1], READER_TOP_K=args.top_n)
    name = args.pipeline or ("elasticsearch_qa" if args.store == "elasticsearch" else "inmemory_qa")
    pipeline = _load(name, overrides)
    retrieval, reader = split_reader(pipeline)
    if args.batch_size:
        reader.batch_size = args.batch_size
    if args.retriever_weight is not None:
        if args.retriever_weight < 0:
            raise CLIError("--retriever-weight must be >= 0.")
        reader.retriever_weight = args.retriever_weight
    try:
        reader.warm_up()
    except CheckpointError as exc:
        raise CLIError(f"{exc}\nPass a local reader checkpoint with --model PATH.") from exc
    if args.store == "memory":
        from haystack.document_stores.in_memory import InMemoryDocumentStore

        store = InMemoryDocumentStore(index=f"eval-{uuid.uuid4().hex[:8]}")
        inject_store(retrieval, store)
    else:
        try:
            check_elasticsearch(overrides["ELASTICSEARCH_URL"])
        except StoreError as exc:
            raise CLIError(str(exc)) from exc
        store = document_store_of(retrieval)
    documents, gold = context_documents(dataset.examples)
    if args.distractors:
        from haystack import Document

        from spanbert_reader.data.corpus import read_corpus

        try:
            extra = read_corpus(args.distractors)
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from exc
        known = {d.content for d in documents}
        documents = documents + [Document(content=t, meta={"distractor": True}) for t in extra if t not in known]
        print(f"Indexing {len(documents)} passages ({len(documents) - len(gold)} distractors)", file=sys.stderr)
    if any("embedding" in str(type(retrieval.get_component(n))).lower() for n in retrieval.graph.nodes):
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
        )

        embedder = SentenceTransformersDocumentEmbedder(
            model=args.embedding_model or os.environ.get("EMBEDDING_MODEL") or "sentence-transformers/all-MiniLM-L6-v2",
            progress_bar=not args.no_progress)
        embedder.warm_up()
        documents = embedder.run(documents=documents)["documents"]
        gold = {key: next(d for d in documents if d.id == doc.id) for key, doc in gold.items()}
    from haystack.document_stores.types import DuplicatePolicy

    store.write_documents(documents, policy=DuplicatePolicy.OVERWRITE)
    retrieval.warm_up()
    try:
        result = evaluate(dataset, reader, retrieval_function(retrieval, not args.no_progress), gold, ks,
                          top_n=args.top_n, progress=not args.no_progress, tune_fusion=args.tune_fusion)
    finally:
        if args.store == "elasticsearch" and not args.keep_index:
            try:
                store.client.indices.delete(index=overrides["INDEX"], ignore_unavailable=True)
            except Exception as exc:  # cleanup must not hide the real error
                print(f"warning: could not delete index {overrides['INDEX']}: {exc}", file=sys.stderr)
    output = Path(args.output or f"eval-{Path(args.dataset).stem}")
    write_outputs(result, output, run_name=f"{Path(args.dataset).name} / {name}")
    print((output / "report.md").read_text())
    print(f"Outputs in {output}/ (metrics.json, predictions.json, details.jsonl, report.md, plot.png)")
    local = Path(model).expanduser()
    if result.tuned_fusion is not None:
        from spanbert_reader.inference.answers import write_fusion

        best = result.tuned_fusion
        target = local if local.is_dir() else output
        path = write_fusion(target, best, dataset=str(args.dataset), pipeline=name, ks=ks,
                            objective=result.metrics["fusion_tuning"]["objective"])
        note = "" if local.is_dir() else " (the model is not a local folder; copy it next to the weights)"
        print(f"Stored fusion settings (retriever weight {best.retriever_weight:g}, aggregation "
              f"{'on' if best.aggregate else 'off'}) in {path}{note}")
    if args.tune_null_threshold:
        tuned = result.metrics.get("oracle_null_threshold", {})
        if "best_f1_thresh" not in tuned:
            raise CLIError("No threshold to tune: the dataset has no questions scored with null odds.")
        from spanbert_reader.inference.answers import write_null_threshold

        target = local if local.is_dir() else output
        path = write_null_threshold(target, tuned["best_f1_thresh"], best_f1=tuned["best_f1"],
                                    dataset=str(args.dataset))
        note = "" if local.is_dir() else " (the model is not a local folder; copy it next to the weights)"
        print(f"Stored no-answer threshold {tuned['best_f1_thresh']:.4f} in {path}{note}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from spanbert_reader.modeling import CheckpointError
    from spanbert_reader.training.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        train=args.train, dev=args.dev, model=args.model, output=args.output, max_seq_length=args.max_seq_length,
        stride=args.stride, max_query_length=args.max_query_length, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, batch_size=args.batch_size,
        per_device_batch_size=args.per_device_batch_size, epochs=args.epochs, max_steps=args.max_steps,
        seed=args.seed, mixed_precision=args.mixed_precision, gradient_checkpointing=args.gradient_checkpointing,
        eval_steps=args.eval_steps, save_steps=args.save_steps, resume=args.resume, stop_after=args.stop_after,
        train_limit=args.train_limit,
        dev_limit=args.dev_limit, cpu=args.cpu, progress=not args.no_progress, shared_norm=args.shared_norm,
        distractors=args.distractors)
    try:
        summary = finetune(config)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    best = summary["best_dev"]
    print(f"Trained {summary['steps']} steps in {summary['wall_time_s']:.0f} s "
          f"({summary['steps_per_s']:.2f} steps/s, {summary['tokens_per_s']:.0f} tokens/s); model in {args.output}")
    if best:
        print(f"Best dev: EM {best['exact']:.2f} F1 {best['f1']:.2f} at step {best['step']}"
              + (f"; no-answer threshold {best['null_threshold']:.3f} (F1 {best['best_f1']:.2f})"
                 if "null_threshold" in best else ""))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from spanbert_reader.modeling import CheckpointError
    from spanbert_reader.stores import StoreError
    from spanbert_reader.training.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(
        model=args.model, output=args.output, corpus=args.corpus, from_index=args.from_index, store=args.store,
        data_dir=args.data_dir, es_url=args.es_url, max_seq_length=args.max_seq_length, batch_size=args.batch_size,
        per_device_batch_size=args.per_device_batch_size, learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio, epochs=args.epochs, max_steps=args.max_steps, mask_ratio=args.mask_ratio,
        seed=args.seed, mixed_precision=args.mixed_precision, gradient_checkpointing=args.gradient_checkpointing,
        cpu=args.cpu, progress=not args.no_progress)
    try:
        summary = pretrain(config)
    except (CheckpointError, StoreError, ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    first, last = summary["history"][0], summary["history"][-1]
    print(f"Pre-trained {summary['steps']} steps on {summary['blocks']} blocks in {summary['wall_time_s']:.0f} s "
          f"({summary['tokens_per_s']:.0f} tokens/s); loss {first['loss']:.3f} -> {last['loss']:.3f}; "
          f"encoder in {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from spanbert_reader.stores import StoreError, check_elasticsearch, load_memory_store

    settings = {"SPANBERT_SERVE_STORE": args.store, "SPANBERT_SERVE_PIPELINE": args.pipeline,
                "SPANBERT_SERVE_INDEX": args.index, "SPANBERT_DATA_DIR": args.data_dir, "SPANBERT_MODEL": args.model,
                "ELASTICSEARCH_URL": args.es_url, "EMBEDDING_MODEL": args.embedding_model}
    for key, value in settings.items():
        if value:
            os.environ[key] = str(value)
    try:  # fail fast, before the server starts, when there is nothing to serve
        if args.store == "memory":
            load_memory_store(args.index or "default", args.data_dir, must_exist=True)
        else:
            check_elasticsearch(args.es_url or os.environ.get("ELASTICSEARCH_URL") or "http://localhost:9200")
    except StoreError as exc:
        raise CLIError(str(exc)) from exc
    import uvicorn

    from spanbert_reader.serve.app import create_serving_app

    app = create_serving_app(max_body_bytes=args.max_body_bytes)
    print(f"Serving on http://{args.host}:{args.port}: POST /spanbert_qa/run, GET /health", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


COMMANDS = {"pipelines": cmd_pipelines, "index": cmd_index, "ask": cmd_ask, "score": cmd_score,
            "eval": cmd_eval, "train": cmd_train, "pretrain": cmd_pretrain,
            "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"spanbert-qa {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
