"""fp32 Linear layers on this CPU: torch's BLAS (``nn.Linear``) against oneDNN with packed weights
(:class:`spanbert_reader.inference.onednn.OneDNNLinear`, what the reader uses where it measures faster), on one
thread, for the shapes of all-MiniLM-L6-v2 and BERT-base over 1,024 tokens; and the bf16 product for comparison.
Writes the "Linear layers on CPU" section of BENCHMARKS.md.

    python benchmarks/linear_cpu.py
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import machine_line, write_section  # noqa: E402

TOKENS = 1024
SHAPES = (("MiniLM", 384, 1152), ("MiniLM", 384, 1536), ("MiniLM", 1536, 384),
          ("BERT-base", 768, 2304), ("BERT-base", 768, 3072), ("BERT-base", 3072, 768))


def gflops(run, x: torch.Tensor, flops: int, repeats: int = 20) -> float:
    """GFLOP/s of ``run(x)``, best of ``repeats`` after one warm-up call."""
    run(x)
    best = min(_timed(run, x) for _ in range(repeats))
    return flops / best / 1e9


def _timed(run, x: torch.Tensor) -> float:
    started = time.perf_counter()
    run(x)
    return time.perf_counter() - started


def main() -> int:
    from spanbert_reader.inference.onednn import OneDNNLinear, onednn_linear_available

    if not onednn_linear_available():
        print("this torch build has no oneDNN inner product on the CPU", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    with torch.inference_mode():
        for model, k, n in SHAPES:
            linear = torch.nn.Linear(k, n)
            x = torch.randn(TOKENS, k)
            flops = 2 * TOKENS * k * n
            blas = gflops(linear, x, flops)
            packed = gflops(OneDNNLinear.from_linear(linear), x, flops)
            bf16 = gflops(linear.to(torch.bfloat16), x.bfloat16(), flops)
            rows.append(f"| {model} | {k} → {n} | {blas:.0f} | **{packed:.0f} ({packed / blas:.2f}x)** | {bf16:.0f} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    markdown = f"""## Linear layers on CPU: torch's BLAS against oneDNN, fp32, one thread ({datetime.date.today()})

Machine: {machine_line()}. Command: `python benchmarks/linear_cpu.py` ({TOKENS} tokens per product, best of 20,
one torch thread; GFLOP/s). "oneDNN" is the fp32 layer the reader uses on CPU where it measures faster
(`spanbert_reader/inference/onednn.py`); bf16 is `nn.Linear` in bf16, for comparison.

| model | layer (in → out) | torch `nn.Linear` fp32 | oneDNN packed fp32 | bf16 |
|---|---|---|---|---|
{table}
"""
    print(markdown)
    write_section("linear-cpu", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
