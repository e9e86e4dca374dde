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
    from spanbert_reader.querying import inject_store
    from spanbert_reader.stores import StoreError, check_elasticsearch, load_memory_store

    model = args.model or os.environ.get("SPANBERT_MODEL") or DEFAULT_MODEL
    overrides = _overrides(args, SPANBERT_MODEL=model, READER_TOP_K=args.top_k,
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
    except StoreError as exc:
        raise CLIError(str(exc)) from exc
    pipeline = _load(name, overrides)
    if store is not None:
        inject_store(pipeline, store)
    try:
        pipeline.warm_up()
    except Exception as exc:
        from spanbert_reader.modeling import CheckpointError

        if isinstance(exc, CheckpointError):
            raise CLIError(f"{exc}\nPass a local reader checkpoint with --model PATH or SPANBERT_MODEL=PATH.") from exc
        raise
    return pipeline


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


COMMANDS = {"pipelines": cmd_pipelines, "index": cmd_index, "ask": cmd_ask}


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
