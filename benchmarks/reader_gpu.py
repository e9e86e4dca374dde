"""GPU reader throughput: windows/s at max_seq_length 384 for BERT-base- and BERT-large-sized checkpoints
(random weights, the demo reader's vocabulary), SpanBERTReader (bf16, packed varlen attention) vs
TransformersExtractiveReader (bf16) in the same run: `run_batch` and per-query `run()` for ours, per-query `run()`
for TER (it has no `run_batch`); peak GPU memory above the model's weights; how often our bf16 top answer equals
our fp32 top answer.

Each size's row is printed and written (reader_gpu.jsonl, reader_gpu.md under --out) as soon as it exists, so a
timeout keeps what was measured.

    python3 benchmarks/reader_gpu.py --out results/            # needs CUDA
    python3 benchmarks/reader_gpu.py --out results/ --smoke-cpu  # the same code on the CPU, tiny shapes
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
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from common import SHARED_DATA, squad_workload, write_section  # noqa: E402

DEMO = ROOT / "spanbert_reader" / "models" / "minilm-squad-demo"
WORKLOADS = [SHARED_DATA / "squad11-train-subset.json", ROOT / ".gpu-data" / "squad11-train-subset.json"]
SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
}


def build(size: str, folder: Path) -> Path:
    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering, load_tokenizer

    tokenizer = load_tokenizer(str(DEMO))  # the vocabulary and token ids of all-MiniLM-L6-v2, shipped in-repo
    torch.manual_seed(0)
    model = SpanBertForQuestionAnswering(SpanBertConfig(vocab_size=len(tokenizer), **SIZES[size]))
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.2)
    model.save_pretrained(folder, tokenizer=tokenizer)
    return folder


def count_windows(reader, queries, docs) -> int:
    engine = reader.span_reader.engine
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


def allocated_gib() -> float:
    return torch.cuda.memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed(fn, *args):
    """(seconds, result) of ``fn(*args)``, with the device synchronised around it."""
    sync()
    start = time.perf_counter()
    result = fn(*args)
    sync()
    return time.perf_counter() - start, result


def one_by_one(reader, queries, docs) -> None:
    for q, d in zip(queries, docs, strict=True):
        reader.run(query=q, documents=d)


def bench(size: str, queries, docs, per_query: int, agree_queries: int, device: str) -> dict:
    import gc

    from haystack.utils import ComponentDevice
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from spanbert_reader import SpanBERTReader

    on = ComponentDevice.from_str(device)
    with tempfile.TemporaryDirectory() as tmp:
        path = build(size, Path(tmp))
        row: dict = {"size": size, "queries": len(queries)}
        # ours, bf16 (auto on CUDA), packed batches
        ours = SpanBERTReader(model=str(path), top_k=5, batch_size=512, max_tokens_per_batch=65536, device=on)
        ours.warm_up()
        windows = count_windows(ours, queries, docs)
        few = count_windows(ours, queries[:per_query], docs[:per_query])
        ours.run_batch(queries[:64], docs[:64])  # warm-up: kernels, allocator
        reset_peak()
        weights = allocated_gib()
        seconds, result = timed(ours.run_batch, queries, docs)
        row.update(windows=windows, ours_batch_windows_per_s=windows / seconds,
                   ours_peak_above_weights_gib=peak_gib() - weights, ours_weights_gib=weights)
        seconds, _ = timed(one_by_one, ours, queries[:per_query], docs[:per_query])
        row["ours_run_windows_per_s"] = few / seconds
        bf16_answers = result["answers"][:agree_queries]
        del ours, result
        gc.collect()
        # ours in fp32 on a subset: does bf16 change the top answer?
        fp32 = SpanBERTReader(model=str(path), top_k=5, batch_size=256, precision="fp32", device=on)
        fp32_answers = fp32.run_batch(queries[:agree_queries], docs[:agree_queries])["answers"]
        row["bf16_equals_fp32"] = sum(top(a) == top(b) for a, b in zip(bf16_answers, fp32_answers, strict=True))
        row["agree_queries"] = len(fp32_answers)
        del fp32
        gc.collect()
        reset_peak()
        # TER, bf16, one run() per query (the way it is used)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        ter = TransformersExtractiveReader(model=str(path), top_k=5, model_kwargs={"dtype": dtype,
                                                                                   "device_map": device})
        ter.warm_up()
        ter.run(query=queries[0], documents=docs[0])
        reset_peak()
        weights = allocated_gib()
        seconds, _ = timed(one_by_one, ter, queries[:per_query], docs[:per_query])
        row.update(ter_run_windows_per_s=few / seconds, ter_peak_above_weights_gib=peak_gib() - weights,
                   ter_weights_gib=weights, per_query_queries=per_query)
        del ter
        gc.collect()
        reset_peak()
    row["batch_ratio"] = row["ours_batch_windows_per_s"] / row["ter_run_windows_per_s"]
    row["run_ratio"] = row["ours_run_windows_per_s"] / row["ter_run_windows_per_s"]
    return row


def table(rows: list[dict], device_name: str, description: str) -> str:
    lines = [f"## Reader on GPU ({datetime.date.today()}, {device_name})", "",
             f"Workload: {description}; max_seq_length 384, stride 128, random weights with the demo reader's "
             "vocabulary. Ours: bf16, packed batches with variable-length flash attention. TER: bf16. Windows/s "
             "count the same windows for both. Peak memory is above the model's own weights. "
             "Command: `bash benchmarks/gpu_check.sh` (runs `python3 benchmarks/reader_gpu.py`).", "",
             "| checkpoint | ours run_batch windows/s | ours run() windows/s | TER run() windows/s | "
             "run_batch / TER | run() / TER | peak above weights ours / TER (GiB) | bf16 top = fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} (random) | {r['ours_batch_windows_per_s']:.0f} | "
                     f"{r['ours_run_windows_per_s']:.0f} | {r['ter_run_windows_per_s']:.0f} | "
                     f"{r['batch_ratio']:.1f}x | "
                     f"{r['run_ratio']:.1f}x | "
                     f"{r['ours_peak_above_weights_gib']:.2f} / {r['ter_peak_above_weights_gib']:.2f} | "
                     f"{r['bf16_equals_fp32']}/{r['agree_queries']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu-results"))
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--docs-per-query", type=int, default=10)
    parser.add_argument("--per-query", type=int, default=200, help="queries timed one run() at a time")
    parser.add_argument("--agree-queries", type=int, default=200, help="queries also read in fp32")
    parser.add_argument("--sizes", default="base,large")
    parser.add_argument("--write", action="store_true", help="also update BENCHMARKS.md")
    parser.add_argument("--smoke-cpu", action="store_true",
                        help="run the same code on the CPU with tiny shapes (checks the script, measures nothing)")
    args = parser.parse_args(argv)
    if args.smoke_cpu:
        device, device_name = "cpu", "CPU smoke run: not a measurement"
        args.queries, args.per_query, args.agree_queries, args.sizes = 24, 6, 6, "tiny"
    elif torch.cuda.is_available():
        device, device_name = "cuda", torch.cuda.get_device_name(0)
    else:
        print("No CUDA device: nothing measured (use --smoke-cpu to check the script).")
        return 1
    workload = next((p for p in WORKLOADS if p.exists()), None)
    if workload is None and not args.smoke_cpu:
        print(f"No SQuAD workload: expected one of {', '.join(map(str, WORKLOADS))} "
              "(scripts/fetch_device_wheels.sh copies it to .gpu-data/).")
        return 1
    from haystack import Document

    queries, passages, description = squad_workload(args.queries, args.docs_per_query,
                                                    path=workload or WORKLOADS[0])
    docs = [[Document(content=p) for p in g] for g in passages]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for size in args.sizes.split(","):
        row = bench(size, queries, docs, args.per_query, args.agree_queries, device)
        rows.append(row)
        with open(out / "reader_gpu.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        text = table(rows, device_name, description)
        (out / "reader_gpu.md").write_text(text + "\n")
        print(json.dumps(row), flush=True)
        print(text, flush=True)
    if args.write:
        write_section("reader_gpu", table(rows, device_name, description))
    return 0


if __name__ == "__main__":
    sys.exit(main())
