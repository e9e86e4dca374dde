"""Load test of `spanbert-qa serve` on loopback: N concurrent clients send a bounded number of questions.

Starts the server in a subprocess on 127.0.0.1 (a free port), indexes the example corpus into a temporary
in-memory index, and uses the MiniLM-sized checkpoint with a seeded span head. Reports throughput, p50/p95/p99
latency and errors, and checks that every answer equals the answer of a sequential run. All traffic goes to
127.0.0.1 only; the number of requests and the run time are bounded.

    python benchmarks/serve_load.py --clients 8 --requests 160
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine_line, write_section  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=160, help="total requests (bounded)")
    parser.add_argument("--timeout", type=float, default=300.0, help="stop sending after this many seconds")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    import httpx
    from reader_cpu import build_checkpoint

    questions = [json.loads(line)["question"]
                 for line in (ROOT / "examples" / "corpus" / "questions.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_checkpoint("minilm", Path(tmp) / "model")
        env = {**os.environ, "SPANBERT_DATA_DIR": f"{tmp}/data", "SPANBERT_MODEL": str(model),
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        subprocess.run([sys.executable, "-m", "spanbert_reader.cli", "index", str(ROOT / "examples" / "corpus"),
                        "--no-progress"], env=env, check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "spanbert_reader.cli", "serve", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None:
                    raise RuntimeError(server.stderr.read().decode()[-2000:])
                time.sleep(0.5)
            else:
                raise RuntimeError("server did not become healthy in 120 s")

            def ask(client, question):
                started = time.perf_counter()
                response = client.post(f"{base}/spanbert_qa/run", json={"question": question, "top_k": 3},
                                       timeout=120)
                elapsed = time.perf_counter() - started
                return response.status_code, elapsed, response.json() if response.status_code == 200 else None

            with httpx.Client() as client:
                sequential = {q: ask(client, q)[2] for q in questions}
            latencies: list[float] = []
            errors = mismatches = 0
            lock = threading.Lock()
            counter = iter(range(args.requests))
            stop_at = time.time() + args.timeout

            def worker():
                nonlocal errors, mismatches
                with httpx.Client() as client:
                    for index in counter:
                        if time.time() > stop_at:
                            return
                        question = questions[index % len(questions)]
                        status, elapsed, payload = ask(client, question)
                        with lock:
                            latencies.append(elapsed)
                            if status != 200:
                                errors += 1
                            elif payload != sequential[question]:
                                mismatches += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    q = statistics.quantiles(latencies, n=100)
    line = (f"| {args.clients} | {len(latencies)} | {len(latencies) / wall:.2f} | {q[49] * 1000:.0f} | "
            f"{q[94] * 1000:.0f} | {q[98] * 1000:.0f} | {errors} | {mismatches} |")
    text = "\n".join([
        f"## Serving on CPU: `spanbert-qa serve` under load ({datetime.date.today()})", "",
        f"Machine: {machine_line()}. One server process (FastAPI/uvicorn) on 127.0.0.1, in-memory BM25 over the "
        "example corpus (retriever top 10), SpanBERTReader with the MiniLM-sized checkpoint (fp32), top_k 3; "
        "clients are threads on the same machine. Command: "
        f"`python benchmarks/serve_load.py --clients {args.clients} --requests {args.requests}`.", "",
        "| clients | requests | requests/s | p50 ms | p95 ms | p99 ms | errors | answers differing from sequential |",
        "|---|---|---|---|---|---|---|---|", line])
    print(text)
    if not args.no_write:
        write_section("serve_load", text)
    return 0 if errors == 0 and mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
