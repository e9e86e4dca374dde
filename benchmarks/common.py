"""Shared pieces of the benchmarks: workloads, checkpoints, memory sampling, BENCHMARKS.md sections."""

from __future__ import annotations

import functools
import json
import os
import random
import re
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def squad_workload(n_queries: int, docs_per_query: int, seed: int = 0,
                   path: Path = SHARED_DATA / "squad11-train-subset.json") -> tuple[list[str], list[list[str]], str]:
    """(queries, passages per query, description): each question with its own paragraph plus other
    paragraphs of the same article, like a retriever's top-k. Falls back to a generated corpus."""
    rng = random.Random(seed)
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        questions = []
        for article in data:
            contexts = [p["context"] for p in article["paragraphs"]]
            for index, paragraph in enumerate(article["paragraphs"]):
                for qa in paragraph["qas"]:
                    questions.append((qa["question"], contexts, index))
        rng.shuffle(questions)
        queries, passages = [], []
        for question, contexts, index in questions[:n_queries]:
            others = [c for i, c in enumerate(contexts) if i != index]
            group = [contexts[index], *rng.sample(others, min(docs_per_query - 1, len(others)))]
            rng.shuffle(group)
            queries.append(question)
            passages.append(group)
        description = f"{path.name}: {n_queries} questions × {docs_per_query} paragraphs of the same article"
        return queries, passages, description
    words = ("the river city museum capital language model year research answer paris france seine "
             "flows through north sea bridge history art").split()
    queries = [f"what is the {rng.choice(words)} of {rng.choice(words)}?" for _ in range(n_queries)]
    passages = [[" ".join(rng.choice(words) for _ in range(rng.randint(40, 400))) + "." for _ in range(docs_per_query)]
                for _ in range(n_queries)]
    return queries, passages, f"generated corpus: {n_queries} queries × {docs_per_query} passages (40-400 words)"


class PeakMemory:
    """Samples this process's RSS in a thread; ``peak_mb`` is the highest RSS seen minus the starting RSS."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process(os.getpid())
        self.peak = 0
        self.start = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def write_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    begin, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


@functools.cache
def _cpuinfo() -> str:
    """/proc/cpuinfo, read once ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); without it bf16 matmuls are emulated and slow."""
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_features() -> str:
    """The vector units that decide CPU speed here (e.g. "AVX-512, AMX-BF16"), from /proc/cpuinfo."""
    if not _cpuinfo():
        return "unknown vector units"
    flags = set(_cpuinfo().split())
    names = [("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"),
             ("amx_int8", "AMX-INT8")]
    found = [label for flag, label in names if flag in flags] or (["AVX2"] if "avx2" in flags else [])
    return ", ".join(found) or "no AVX2"


def cpu_model() -> str:
    """The CPU's model name with its family and model numbers (e.g. "AMD EPYC, family 25 model 17"): the same
    vector units can run at very different speeds on two generations (BENCHMARKS.md, "Reader on CPU")."""
    import platform

    fields: dict[str, str] = {}
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        return f"{name}, family {fields['cpu family']} model {fields['model']}"
    return name


def machine_line() -> str:
    import torch

    return (f"{cpu_model()} ({cpu_features()}), {psutil.cpu_count()} CPU threads, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")
