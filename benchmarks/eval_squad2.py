"""Open-domain evaluation throughput: `spanbert-qa eval` over shared/data/squad2-dev-pt.json on the in-memory
pipeline with the MiniLM-sized checkpoint (real all-MiniLM-L6-v2 encoder, seeded span head: the accuracy numbers
are meaningless, the throughput, memory and wall time are what this measures).

    python benchmarks/eval_squad2.py                    # all 11,873 questions, k = 1,5
    python benchmarks/eval_squad2.py --limit 500 --ks 1,5,10
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, machine_line, write_section  # noqa: E402
from reader_cpu import build_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default=str(SHARED_DATA / "squad2-dev-pt.json"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--ks", default="1,5")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.dataset).exists():
        print(f"{args.dataset} is absent; nothing to measure.")
        return 0
    from spanbert_reader.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        model = build_checkpoint("minilm", Path(tmp) / "model")
        out = Path(tmp) / "out"
        command = ["eval", "--dataset", args.dataset, "--model", str(model), "--retriever-top-k", args.ks,
                   "--output", str(out), "--no-progress"]
        if args.limit:
            command += ["--limit", str(args.limit)]
        started = time.perf_counter()
        code = cli(command)
        wall = time.perf_counter() - started
        if code != 0:
            return code
        metrics = json.loads((out / "metrics.json").read_text())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timing = metrics["timing"]
    data = metrics["dataset"]
    line = (f"| {Path(args.dataset).name} | {data['questions']} ({data['no_answer']} impossible) | {args.ks} | "
            f"{timing['passages_read']} | {timing['questions_per_s']:.2f} | {timing['wall_time_s']:.0f} s "
            f"(retrieval {timing['retrieval_s']:.0f} s, reading {timing['reading_s']:.0f} s) | {wall:.0f} s | "
            f"{peak_mb:.0f} MB |")
    report = metrics["dataset"]["data_report"]
    table = "\n".join([
        f"## Open-domain evaluation throughput on CPU ({datetime.date.today()})", "",
        f"Machine: {machine_line()}. In-memory BM25 → SpanBERTReader (fp32, packed batches), MiniLM-sized "
        "checkpoint with a seeded span head (accuracy meaningless here), reader run once at the largest k and "
        "smaller k derived, plus the oracle (gold paragraph) run. Command: "
        f"`python benchmarks/eval_squad2.py{' --limit ' + str(args.limit) if args.limit else ''} --ks {args.ks}`.",
        "",
        "| dataset | questions | k | passages read | questions/s | eval wall time | whole command (incl. "
        "indexing, model load) | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        line, "",
        f"Data problems found and handled: {json.dumps(report)}.",
    ])
    print(table)
    if not args.no_write:
        write_section("eval_squad2", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
