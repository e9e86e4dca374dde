"""A 2-node Elasticsearch cluster (the embedded test node's jars, two JVMs; index of 2 shards, 1 replica) loses
its data-only node by SIGKILL: once during a stream of 40 questions (before question 11), once mid-way through
indexing 400 files. Records, per run, what was answered or errored, and what `spanbert-qa index` said against
what the index holds afterwards. Writes its table into BENCHMARKS.md.

    python benchmarks/es_failover.py --runs 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import machine_line, write_section  # noqa: E402


def main() -> None:
    import es_node
    import es_scenarios

    from spanbert_reader.app.settings import demo_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            nodes = es_node.start_cluster()
            try:
                asked = es_scenarios.questions_through_failover(nodes, demo_model_path(), Path(folder) / "rivers")
            finally:
                for node in nodes:
                    node.stop()
            nodes = es_node.start_cluster()
            try:
                indexed = es_scenarios.indexing_through_failover(nodes, Path(folder) / "stream")
            finally:
                for node in nodes:
                    node.stop()
        row = (f"| {run} | {asked['answered']}/{asked['asked']} ({asked['right']} right passage first) | "
               f"{asked['errors']} | {asked['first_after_kill']:.2f} / {asked['slowest_after_kill']:.2f} | "
               f"{indexed['searchable_at_kill']} | {indexed['returncode']} | {indexed['acknowledged']} | "
               f"{indexed['stored']} | {indexed['seconds']:.1f} |")
        print(row, flush=True)
        rows.append(row)
    text = "\n".join([
        "## Elasticsearch: a 2-node cluster losing a node",
        "",
        f"Measured {datetime.date.today()} with `python benchmarks/es_failover.py --runs {args.runs}`. "
        f"Machine: {machine_line()}. Two embedded Elasticsearch 8.19 JVMs (first node master + data, second "
        "data only), index of 2 shards and 1 replica, the client pointed at the first node; the second is killed "
        "with SIGKILL. Questions: 40, one per river passage, BM25 top 3 + the demo reader, the node killed before "
        "question 11; \"right\" = the river's own passage retrieved first. Indexing: 400 one-passage files with "
        "`spanbert-qa index`, the node killed once 50 passages were searchable. The same scenarios run in CI as "
        "tests/integration/test_elasticsearch_bulk.py.",
        "",
        "| run | questions answered | errors | first / slowest question after the kill (s) | passages searchable "
        "at the kill | index exit | passages acknowledged | passages found afterwards | indexing time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    if not args.no_write:
        write_section("es-failover", text)
    print(text)


if __name__ == "__main__":
    main()
