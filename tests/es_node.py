"""Start and stop the embedded single-node Elasticsearch of ``tests/elasticsearch_node`` (a real node: Elastic's
own server jar and Netty4 HTTP transport from Maven Central, run in a JVM)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "elasticsearch_node"
MAIN_CLASS = "org.elasticsearch.node.EmbeddedElasticsearch"
HEAP = os.environ.get("SPANBERT_TEST_ES_HEAP", "512m")


class NodeUnavailable(RuntimeError):
    """The embedded node cannot be built or started here (the message says why)."""


@dataclass
class RunningNode:
    url: str
    process: subprocess.Popen
    home: Path

    def stop(self) -> None:
        """Stop the node (by its own PID) and delete its data folder."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # the launcher exits when its stdin closes
            except OSError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


def missing_tools() -> str | None:
    """Why the node cannot be built here, or None."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found" if missing else None


def build() -> Path:
    """Compile the launcher and collect its classpath (``mvn package``; Maven skips work already done)."""
    classes, lib = PROJECT / "target" / "classes", PROJECT / "target" / "lib"
    sources = [p.stat().st_mtime for p in (PROJECT / "src").rglob("*.java")] + [(PROJECT / "pom.xml").stat().st_mtime]
    marker = PROJECT / "target" / ".built"
    if marker.exists() and lib.is_dir() and marker.stat().st_mtime >= max(sources):
        return PROJECT / "target"
    result = subprocess.run(["mvn", "-q", "-B", "package", "-DskipTests"], cwd=PROJECT, capture_output=True,
                            text=True, timeout=900)
    if result.returncode != 0 or not classes.is_dir():
        raise NodeUnavailable(f"mvn package failed in {PROJECT}:\n{(result.stdout + result.stderr)[-3000:]}")
    marker.touch()
    return PROJECT / "target"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health?wait_for_status=yellow&timeout=5s", timeout=10) as r:
            return json.loads(r.read())
    except OSError:
        return None


def start(timeout: float = 180.0, settings: dict[str, str] | None = None) -> RunningNode:
    """Build if needed, start the node on a free port and wait for a yellow cluster. ``settings`` are node
    settings over the single-node defaults (an empty value removes one)."""
    target = build()
    home = Path(tempfile.mkdtemp(prefix="spanbert-es-"))
    port = _free_port()
    classpath = os.pathsep.join([str(target / "classes"), str(target / "lib" / "*")])
    command = ["java", f"-Xms{HEAP}", f"-Xmx{HEAP}", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
               "-cp", classpath, MAIN_CLASS, str(home), str(port),
               *(f"{key}={value}" for key, value in (settings or {}).items())]
    log = open(home / "node.log", "w")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    node = RunningNode(f"http://127.0.0.1:{port}", process, home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (home / "node.log").read_text(errors="replace")[-3000:]
            node.stop()
            raise NodeUnavailable(f"the embedded Elasticsearch exited with code {process.returncode}:\n{text}")
        health = _health(node.url)
        if health and health.get("status") in ("yellow", "green"):
            return node
        time.sleep(1)
    text = (home / "node.log").read_text(errors="replace")[-3000:]
    node.stop()
    raise NodeUnavailable(f"the embedded Elasticsearch did not become healthy in {timeout:.0f} s:\n{text}")


def start_cluster(timeout: float = 240.0) -> list[RunningNode]:
    """A real 2-node cluster of the same jars in two JVMs: the first node master-eligible and holding data, the
    second a data-only node that joins through ``discovery.seed_hosts``. The second can be stopped without the
    cluster losing its master; replicas on the first then become primaries."""
    name = f"spanbert-cluster-{os.getpid()}-{_free_port()}"
    transport = _free_port()
    first = start(timeout, {"cluster.name": name, "node.name": "es-a", "discovery.type": "",
                            "transport.port": str(transport), "discovery.seed_hosts": f"127.0.0.1:{transport}",
                            "cluster.initial_master_nodes": "es-a"})
    try:
        second = start(timeout, {"cluster.name": name, "node.name": "es-b", "discovery.type": "",
                                 "node.roles": "data", "transport.port": str(_free_port()),
                                 "discovery.seed_hosts": f"127.0.0.1:{transport}"})
    except NodeUnavailable:
        first.stop()
        raise
    nodes = [first, second]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = _health(first.url)
        if health and health.get("number_of_nodes") == 2:
            return nodes
        time.sleep(1)
    for node in nodes:
        node.stop()
    raise NodeUnavailable(f"the second node did not join the cluster in {timeout:.0f} s")
