"""The ``spanbert-qa`` commands: arguments → settings → one library call → printed result."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from spanbert_reader.app.settings import AppSettings
from spanbert_reader.data import jsonio

EXIT_USAGE = 2


class CLIError(Exception):
    """An error reported to the user as a message (no traceback) with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def settings_from(args: argparse.Namespace, **given: Any) -> AppSettings:
    """The application settings for a command's arguments (environment for what was not given)."""
    names = ("store", "index", "data_dir", "es_url", "embedding_model", "pipeline", "model", "precision")
    values = {n: getattr(args, n, None) for n in names}
    values.update(given)
    return AppSettings.from_env(**values)


def _note(notes: list[str]) -> None:
    for note in notes:
        print(f"spanbert-qa: {note}", file=sys.stderr)


def cmd_pipelines(args: argparse.Namespace) -> int:
    from spanbert_reader.app.pipelines import list_pipelines

    for name, info in list_pipelines().items():
        print(f"{name:32s} {info.description}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from spanbert_reader.app.indexing import index_files

    settings = settings_from(args, pipeline=None)
    def waiting(lock) -> None:
        print(f"spanbert-qa index: another run is writing this index; waiting for {lock}", file=sys.stderr)

    report = index_files(settings, args.paths, embed=args.embed, pipeline=args.pipeline,
                         split_length=args.split_length, progress=args.progress, prune=args.prune,
                         on_wait=waiting)
    print(f"Indexed {report.files} file(s) into {report.passages} passage(s) -> {report.store}")
    if report.replaced or report.pruned:
        print(f"Replaced {report.replaced} old passage(s) of re-indexed files; removed {report.pruned} passage(s) "
              "of files that no longer exist.")
    if report.skipped:
        print(f"Skipped {len(report.skipped)} file(s):")
        for path, reason in report.skipped:
            print(f"  {path}: {reason}")
    return 0


def _answer(pipeline, question: str, args: argparse.Namespace) -> None:
    from spanbert_reader.app.qa import answer_records, find_answers, format_table, not_found, question_inputs

    result = pipeline.run(question_inputs(pipeline, question, args.top_k, args.retriever_top_k))
    answers = find_answers(result)
    if args.json:
        print(json.dumps({"question": question, "not_found": not_found(answers), "answers": answer_records(answers)},
                         ensure_ascii=False, allow_nan=False))
    else:
        print(format_table(question, answers))
    sys.stdout.flush()


def cmd_ask(args: argparse.Namespace) -> int:
    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.data.text import check_text

    if args.top_k < 1 or args.retriever_top_k < 1:
        raise CLIError("--top-k and --retriever-top-k must be at least 1.")
    if args.question is not None and not args.question.strip():
        raise CLIError("The question is empty.")
    if args.question is not None:
        try:
            check_text(args.question)
        except ValueError:
            raise CLIError("The question is not valid UTF-8 text (check the terminal's encoding).") from None
    built = build_qa_pipeline(settings_from(args))
    _note(built.notes)
    if args.question is not None:
        _answer(built.pipeline, args.question, args)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask a question (empty line or Ctrl-D to quit).", file=sys.stderr)
    number = 0
    failed = 0
    while True:
        if interactive:
            print("question> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        number += 1
        if not line or (interactive and (not line.strip() or line.strip() in ("exit", "quit"))):
            return 1 if failed else 0
        question = line.strip()
        if not question:
            continue
        try:
            check_text(question)
        except ValueError:
            print(f"spanbert-qa ask: line {number}: not valid UTF-8 text; skipped", file=sys.stderr)
            failed += 1
            continue
        _answer(built.pipeline, question, args)


def _read_json_map(path: str, what: str) -> dict[str, Any]:
    from pathlib import Path

    if Path(path).exists() and not Path(path).is_file():
        raise CLIError(f"{what.capitalize()} {path} is not a regular file (a folder, FIFO or device).")
    try:
        data = jsonio.loads(open(path, encoding="utf-8").read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
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
        raw_odds = _read_json_map(args.null_odds, "null odds")
        bad = [k for k, v in raw_odds.items() if not isinstance(v, int | float) or isinstance(v, bool)]
        if bad:
            raise CLIError(f"Null odds in {args.null_odds} must be numbers; {len(bad)} are not (first: {bad[0]!r} -> "
                           f"{raw_odds[bad[0]]!r}).")
        odds = {k: float(v) for k, v in raw_odds.items()}
    result = score_squad(dataset.raw, predictions, odds, args.null_threshold)
    missing = result.pop("missing", [])
    if missing:
        print(f"spanbert-qa score: {len(missing)} question(s) have no prediction and were left out (as the "
              "official script does)", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from spanbert_reader.app.evaluate import EvalOptions, run_evaluation
    from spanbert_reader.cli.parser import k_values

    try:
        ks = k_values(args.retriever_top_k)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    options = EvalOptions(
        dataset=args.dataset, ks=ks, top_n=args.top_k, output=args.output, limit=args.limit,
        distractors=args.distractors, batch_size=args.batch_size, retriever_weight=args.retriever_weight,
        tune_fusion=args.tune_fusion, tune_calibration=args.tune_calibration,
        tune_null_threshold=args.tune_null_threshold, keep_index=args.keep_index,
        progress=args.progress)
    run = run_evaluation(settings_from(args), options)
    print((run.output / "report.md").read_text())
    print(f"Outputs in {run.output}/ (metrics.json, predictions.json, details.jsonl, report.md, plot.png)")
    _note(run.notes)
    return 0


def _config(config_class, args: argparse.Namespace):
    """A training config from the arguments that were given (the others keep the dataclass defaults)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def cmd_train(args: argparse.Namespace) -> int:
    from spanbert_reader.modeling import CheckpointError
    from spanbert_reader.training.finetune import FinetuneConfig, finetune

    try:
        summary = finetune(_config(FinetuneConfig, args))
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
    from spanbert_reader.training.pretrain import PretrainConfig, pretrain

    documents = None
    if args.from_index:
        from spanbert_reader.app.indexing import read_index_texts

        documents = read_index_texts(settings_from(args, index=args.from_index))
    try:
        summary = pretrain(_config(PretrainConfig, args), documents=documents)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc
    first, last = summary["history"][0], summary["history"][-1]
    print(f"Pre-trained {summary['steps']} steps on {summary['blocks']} blocks in {summary['wall_time_s']:.0f} s "
          f"({summary['tokens_per_s']:.0f} tokens/s); loss {first['loss']:.3f} -> {last['loss']:.3f}; "
          f"encoder in {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from spanbert_reader.extras import require

    require("fastapi", "spanbert-qa serve")
    from spanbert_reader.serve.app import serve
    from spanbert_reader.serve.security import API_KEY_ENV

    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    serve(settings_from(args), host=args.host, port=args.port, max_body_bytes=args.max_body_bytes, api_key=api_key,
          cors_origins=args.cors_origin, mcp=args.mcp)
    return 0


COMMANDS = {"pipelines": cmd_pipelines, "index": cmd_index, "ask": cmd_ask, "score": cmd_score,
            "eval": cmd_eval, "train": cmd_train, "pretrain": cmd_pretrain, "serve": cmd_serve}
