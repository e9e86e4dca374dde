"""`spanbert-qa serve` as a real process: warm when it says ready, a warning when open to the network without a
key, exit 2 with one line when it cannot serve, and graceful shutdown on SIGTERM."""

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest
from serve_process import ServeProcess, cli

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = [json.loads(line)["question"] for line in (CORPUS / "questions.jsonl").read_text().splitlines()]

pytestmark = pytest.mark.slow


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("louvre.md", "seine.txt", "spanbert.txt"):
        (folder / name).write_text((CORPUS / name).read_text())
    return folder


def _open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open (its listening socket plus the connections it accepted)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:  # closed while we looked
            pass
    return count


def test_the_first_request_is_as_fast_as_the_next_ones_and_sigterm_lets_requests_finish(tmp_path, demo_model):
    import httpx

    server = ServeProcess(_corpus(tmp_path), tmp_path / "data", demo_model, host="0.0.0.0")
    with server:
        def ask(question: str) -> float:
            started = time.perf_counter()
            response = httpx.post(f"{server.url}/spanbert_qa/run", json={"question": question}, timeout=60)
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        first = ask(QUESTIONS[2])
        later = [ask(QUESTIONS[2]) for _ in range(10)]
        # Without the warm-up the first request costs 2.5-4.6 s more than the next ones (measured by skipping it);
        # the second of slack absorbs a loaded CI runner's jitter (0.3 s seen) and still catches a cold start.
        assert first <= 2 * statistics.median(later) + 1.0, (first, later)

        # SIGTERM with requests in flight: each one that reached the server is answered
        results: list[tuple[int, float] | Exception] = []
        lock = threading.Lock()
        ready = threading.Barrier(25)

        def client(question: str) -> None:
            with httpx.Client(timeout=120) as http:  # built before the barrier, so all 24 connect at once
                ready.wait()
                try:
                    response = http.post(f"{server.url}/spanbert_qa/run",
                                         json={"question": question, "retriever_top_k": 50})
                    with lock:
                        results.append((response.status_code, time.monotonic()))
                except httpx.ConnectError as exc:  # arrived after the server stopped listening
                    with lock:
                        results.append(exc)

        idle_sockets = _open_sockets(server.process.pid)
        threads = [threading.Thread(target=client, args=(QUESTIONS[i % len(QUESTIONS)],)) for i in range(24)]
        for thread in threads:
            thread.start()
        ready.wait()

        def reached_the_server() -> int:  # accepted and still open, or already answered
            with lock:
                return _open_sockets(server.process.pid) - idle_sockets + len(results)

        # Signal once every client has reached the server (a fixed sleep raced with a loaded runner: some clients
        # had not connected yet, others sat unaccepted in the listen backlog), then give its event loop a moment
        # to read the requests.
        deadline = time.monotonic() + 60
        while reached_the_server() < 24 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reached_the_server() >= 24, "the server never accepted all 24 clients"
        time.sleep(0.2)
        signalled = time.monotonic()
        code = server.stop(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=120)
    answered = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(results) == 24 and not failed, failed
    assert all(status == 200 for status, _ in answered)
    assert sum(when > signalled for _, when in answered) >= 1  # some were answered after the signal
    assert code in (0, -signal.SIGTERM), server.stderr  # uvicorn re-raises the signal once it has drained
    assert "Traceback" not in server.stderr
    assert "without an API key" in server.stderr  # bound to 0.0.0.0 with no key


@pytest.mark.parametrize("args", [["--model", "/nonexistent/reader"], ["--index", "never-indexed"],
                                  ["--api-key", " "], ["--cors-origin", "evil.example"]])
def test_serve_that_cannot_start_is_exit_2_with_one_line(tmp_path, args):
    env = {"SPANBERT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([*cli(), "serve", "--port", "1", *args], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("spanbert-qa serve: error")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
