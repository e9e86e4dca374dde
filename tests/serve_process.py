"""A real ``spanbert-qa serve`` process on 127.0.0.1 for tests (index a folder, start, wait until healthy, stop)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def cli() -> list[str]:
    """The ``spanbert-qa`` console script of this environment (or ``python -m``)."""
    exe = Path(sys.executable).with_name("spanbert-qa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``spanbert-qa index FOLDER`` into a temporary data dir, then ``spanbert-qa serve ARGS`` on a free port."""

    def __init__(self, folder: Path, data_dir: Path, model: Path, *args: str, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "SPANBERT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                    "HAYSTACK_TELEMETRY_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        indexed = subprocess.run([*cli(), "index", str(folder), "--no-progress"], env=self.env, capture_output=True,
                                 text=True, timeout=300)
        assert indexed.returncode == 0, indexed.stderr
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [*cli(), "serve", "--model", str(model), "--host", host, "--port", str(self.port), *args]
        self.process: subprocess.Popen | None = None
        self.stderr = ""

    def __enter__(self) -> ServeProcess:
        import httpx

        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}: {self.process.stderr.read()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"serve did not become healthy in 180 s: {self.stderr}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the exit code; the server's stderr is kept in ``self.stderr``."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            _, self.stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, self.stderr = self.process.communicate()
        return self.process.returncode

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
