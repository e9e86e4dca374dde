#!/usr/bin/env bash
# Run the GPU tests and the GPU benchmark, writing everything under OUT_DIR (default: $OUT or ./gpu-results).
# Usage on a CUDA machine with the project installed:  bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-results}}"
mkdir -p "$out"
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
} > "$out/environment.txt" 2>&1
python -m pytest -m gpu tests/gpu -q -rs 2>&1 | tee "$out/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
timeout 420 python benchmarks/reader_gpu.py --out "$out" 2>&1 | tee "$out/reader_gpu.log"
bench_rc=${PIPESTATUS[0]}
echo "gpu tests exit $tests_rc, benchmark exit $bench_rc" | tee -a "$out/environment.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
