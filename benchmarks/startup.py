"""Start-up: how long a person waits before anything happens. Times, as fresh processes, `spanbert-qa --help`, a cold
`spanbert-qa ask` (the bundled demo reader over the example corpus, indexed first), and the import of the Haystack
component against TransformersExtractiveReader's (the anchor), each the median of ``--repeats`` runs.

    python benchmarks/startup.py --repeats 5
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine_line, write_section  # noqa: E402

IMPORTS = {
    "SpanBERTReader": "from spanbert_reader import SpanBERTReader; SpanBERTReader",
    "TransformersExtractiveReader (anchor)":
        "from haystack_integrations.components.readers.transformers import TransformersExtractiveReader",
}


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("spanbert-qa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]


def timed(command: list[str], env: dict[str, str], repeats: int) -> float:
    """Median wall time of ``command`` run ``repeats`` times (each must succeed)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args(argv)
    from spanbert_reader.app.settings import demo_model_path

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SPANBERT_DATA_DIR": f"{tmp}/data", "HF_HUB_OFFLINE": "1",
               "HAYSTACK_TELEMETRY_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}
        subprocess.run([*cli(), "index", str(ROOT / "examples" / "corpus"), "--no-progress"], env=env, check=True,
                       capture_output=True)
        rows = [("`spanbert-qa --help`", timed([*cli(), "--help"], env, args.repeats)),
                ("`spanbert-qa eval --help`", timed([*cli(), "eval", "--help"], env, args.repeats)),
                ("cold `spanbert-qa ask` (demo reader, example corpus)",
                 timed([*cli(), "ask", "Who designed the glass pyramid of the Louvre?", "--model",
                        str(demo_model_path())], env, args.repeats))]
        rows += [(f"import {name}", timed([sys.executable, "-c", code], env, args.repeats))
                 for name, code in IMPORTS.items()]
    lines = [f"## Start-up ({datetime.date.today()})", "",
             f"Machine: {machine_line()}. Each figure is the median of {args.repeats} fresh processes "
             "(`python benchmarks/startup.py`).", "", "| what | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("startup", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
