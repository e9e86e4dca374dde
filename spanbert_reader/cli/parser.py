"""The ``spanbert-qa`` argument parser: one vocabulary for every command (``--top-k``, ``--retriever-top-k``,
``--no-progress``, the store options), each default defined once (in :mod:`spanbert_reader.app.settings` or the
training config dataclasses) and shown by ``--help``. It imports nothing heavy, so ``--help`` is quick."""

from __future__ import annotations

import argparse
import dataclasses

from spanbert_reader.app.settings import (
    DEFAULT_EVAL_KS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_RETRIEVER_TOP_K,
    DEFAULT_TOP_K,
    READER_PRECISIONS,
)
from spanbert_reader.version import __version__


class _Help(argparse.HelpFormatter):
    """Help with every option's default (when it has a meaningful one and the text does not say it already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, argparse.SUPPRESS) or action.nargs == 0
                or not action.option_strings):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {shown})" if text else f"default: {shown}"


def _progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def k_values(values: list[str]) -> list[int]:
    """eval's ``--retriever-top-k`` values (one or several, commas or spaces: ``1,5,10`` or ``1 5 10``), sorted;
    ValueError naming a value that is not an integer."""
    ks = set()
    for text in values:
        for part in text.split(","):
            if part.strip():
                try:
                    ks.add(int(part))
                except ValueError:
                    raise ValueError(f"--retriever-top-k takes integers such as 1,5,10; got {text!r}") from None
    return sorted(ks)


def _default(config_class, name: str):
    """The dataclass default of ``name`` (for help texts)."""
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f.default
    raise KeyError(name)


def _answer_args(parser: argparse.ArgumentParser, retriever_help: str) -> None:
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="answers per question")
    parser.add_argument("--retriever-top-k", type=int, default=DEFAULT_RETRIEVER_TOP_K, help=retriever_help)


def _precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=READER_PRECISIONS, default=None,
                        help="reader precision (default: $SPANBERT_PRECISION or the pipeline's 'auto': fp32 on CPU, "
                             "bf16/fp16 on GPUs); 'bf16' is faster on CPUs with native bf16, 'int8' is CPU only "
                             "(README, BENCHMARKS.md)")


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


def _training_args(parser: argparse.ArgumentParser, config_class) -> None:
    """Options shared by ``train`` and ``pretrain``; None means "the config's default"."""
    def option(*flags: str, name: str, kind=int, help: str = "") -> None:
        default = _default(config_class, name)
        parser.add_argument(*flags, dest=name, type=kind, default=None,
                            help=f"{help} (default {default})" if help else f"default {default}")

    option("--max-seq-length", name="max_seq_length", help="tokens per window/block")
    option("--learning-rate", "--lr", name="learning_rate", kind=float, help="peak learning rate")
    option("--warmup-ratio", name="warmup_ratio", kind=float, help="fraction of steps for linear warm-up")
    option("--batch-size", name="batch_size", help="effective batch size (all processes together)")
    option("--per-device-batch-size", name="per_device_batch_size",
           help="examples per forward pass (gradient accumulation makes up --batch-size)")
    option("--epochs", name="epochs", kind=float)
    option("--max-steps", name="max_steps", help="stop after this many optimiser steps")
    option("--seed", name="seed")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None,
                        help=f"default {_default(config_class, 'mixed_precision')}")
    parser.add_argument("--gradient-checkpointing", action="store_true", default=None,
                        help="recompute activations in the backward pass (less memory, slower)")
    parser.add_argument("--cpu", action="store_true", default=None, help="train on the CPU even when a GPU is present")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="allow --output to be the --model folder (the checkpoint is replaced)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``spanbert-qa`` command."""
    from spanbert_reader.training.config import FinetuneConfig, PretrainConfig

    parser = argparse.ArgumentParser(prog="spanbert-qa", formatter_class=_Help,
                                     description="SpanBERT extractive question answering for Haystack.")
    parser.add_argument("--version", action="version", version=f"spanbert-qa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add = sub.add_parser

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return add(name, formatter_class=_Help, **kwargs)

    sub.add_parser = command  # every command's help shows its defaults

    sub.add_parser("pipelines", help="list the bundled pipelines")

    index = sub.add_parser("index", help="index files (.txt .md .html .pdf, SQuAD .json, .jsonl) for asking")
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (searched recursively)")
    _store_args(index)
    index.add_argument("--embed", action="store_true", help="also store sentence-transformers embeddings")
    index.add_argument("--pipeline", default=None, help="indexing pipeline name or YAML file")
    index.add_argument("--split-length", type=int, default=None, help="words per passage (default 150)")
    index.add_argument("--prune", action="store_true",
                       help="also remove passages of files that no longer exist")
    _progress(index)

    ask = sub.add_parser("ask", help="answer a question (interactive when none is given)")
    ask.add_argument("question", nargs="?", default=None)
    _store_args(ask)
    ask.add_argument("--pipeline", default=None,
                     help="QA pipeline name or YAML file (default: inmemory_qa or elasticsearch_qa)")
    ask.add_argument("--model", default=None,
                     help="reader checkpoint folder or hub id (default: $SPANBERT_MODEL or a hub SpanBERT SQuAD 2.0)")
    _precision_arg(ask)
    _answer_args(ask, "passages the retriever hands the reader")
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
    _precision_arg(ev)
    ev.add_argument("--retriever-top-k", nargs="+", default=[",".join(map(str, DEFAULT_EVAL_KS))],
                    metavar="K", help="passages read per question: one value or several (1,5,10 or 1 5 10), each "
                    "evaluated (default: " + ",".join(map(str, DEFAULT_EVAL_KS)) + ")")
    ev.add_argument("--top-k", "--top-n", dest="top_k", type=int, default=DEFAULT_TOP_K,
                    help="answers per question (top-k accuracy counts a gold answer among them)")
    ev.add_argument("--output", default=None, help="folder for metrics.json, predictions.json, report.md, plot.png")
    ev.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    ev.add_argument("--tune-null-threshold", action="store_true",
                    help="store the F1-maximising no-answer threshold in the model folder")
    ev.add_argument("--tune-fusion", action="store_true",
                    help="grid-search the retriever weight and answer aggregation on this dataset and store the best "
                         "in the model folder (fusion.json)")
    ev.add_argument("--tune-calibration", action="store_true",
                    help="also read every question with its gold paragraph removed, fit the answer calibration "
                         "(the chance an answer is right, and when to say 'not found') on half of the questions, "
                         "report it on the other half, and store the fit on all in the model folder (fusion.json)")
    ev.add_argument("--retriever-weight", type=float, default=None,
                    help="score-fusion weight to evaluate (default: the model's fusion.json, else the built-in one)")
    ev.add_argument("--keep-index", action="store_true", help="keep the Elasticsearch evaluation index")
    ev.add_argument("--distractors", nargs="+", default=None, metavar="PATH",
                    help="extra passages indexed beside the dataset's paragraphs (text, JSONL, JSON records)")
    ev.add_argument("--batch-size", type=int, default=None, help="reader windows per batch (default: the pipeline's)")
    _progress(ev)

    tr = sub.add_parser("train", help="fine-tune a checkpoint for extractive QA on SQuAD 1.1/2.0 JSON")
    tr.add_argument("--train", required=True, help="SQuAD-format training file")
    tr.add_argument("--dev", default=None, help="SQuAD-format dev file (EM/F1 during training, best kept)")
    tr.add_argument("--model", required=True, help="checkpoint folder or hub id (base or QA)")
    tr.add_argument("--output", required=True, help="output folder (HF-format checkpoint + tokenizer)")
    _training_args(tr, FinetuneConfig)
    tr.add_argument("--stride", type=int, default=None,
                    help=f"tokens of overlap between windows (default {_default(FinetuneConfig, 'stride')})")
    tr.add_argument("--max-query-length", type=int, default=None,
                    help=f"query tokens kept (default {_default(FinetuneConfig, 'max_query_length')})")
    tr.add_argument("--weight-decay", type=float, default=None,
                    help=f"AdamW weight decay (default {_default(FinetuneConfig, 'weight_decay')})")
    tr.add_argument("--eval-steps", type=int, default=None, help="dev evaluation every N steps (default: per epoch)")
    tr.add_argument("--save-steps", type=int, default=None, help="save resumable state every N steps")
    tr.add_argument("--resume", action="store_true", default=None, help="continue from the state saved in --output")
    tr.add_argument("--stop-after", type=int, default=None,
                    help="stop this run after N steps, saving resumable state (for time-sliced jobs)")
    tr.add_argument("--train-limit", type=int, default=None, help="use only the first N training questions")
    tr.add_argument("--dev-limit", type=int, default=None, help="use only the first N dev questions")
    tr.add_argument("--shared-norm", action="store_true", default=None,
                    help="one softmax over all windows of all passages of a question (comparable logits across "
                         "passages); use with --distractors")
    tr.add_argument("--distractors", type=int, default=None,
                    help="with --shared-norm: training paragraphs retrieved by BM25 read beside the gold one")
    tr.add_argument("--negatives", type=float, default=None,
                    help="with --shared-norm and --distractors: the share (0-1) of questions also read over their "
                         "distractors alone with 'no answer' as the target, so the reader learns to say an answer "
                         "is not in the passages (default 0)")

    sv = sub.add_parser("serve", help="serve the question page and POST /spanbert_qa/run over HTTP")
    _store_args(sv)
    sv.add_argument("--pipeline", default=None, help="QA pipeline name or YAML file")
    sv.add_argument("--model", default=None, help="reader checkpoint folder or hub id")
    _precision_arg(sv)
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    sv.add_argument("--port", type=int, default=1416, help="port")
    sv.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger requests get 413")
    sv.add_argument("--api-key", default=None,
                    help="require 'Authorization: Bearer KEY' on the API (default: $SPANBERT_API_KEY; none)")
    sv.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                    help="allow browser pages from this origin (https://host[:port]) to call the API; repeatable "
                         "(default: none)")
    sv.add_argument("--mcp", action="store_true", help="also serve the endpoint as an MCP tool at /mcp")

    pt = sub.add_parser("pretrain", help="continue pre-training with span masking + span boundary objective")
    source = pt.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", nargs="+", help="text/markdown files, JSONL or SQuAD JSON, or folders")
    source.add_argument("--from-index", default=None, metavar="NAME", help="documents of an existing index")
    pt.add_argument("--store", choices=["memory", "elasticsearch"], default="memory")
    pt.add_argument("--data-dir", default=None)
    pt.add_argument("--es-url", default=None)
    pt.add_argument("--model", required=True, help="encoder checkpoint folder or hub id")
    pt.add_argument("--output", required=True)
    _training_args(pt, PretrainConfig)
    pt.add_argument("--mask-ratio", type=float, default=None,
                    help=f"fraction of tokens masked (default {_default(PretrainConfig, 'mask_ratio')})")
    return parser
