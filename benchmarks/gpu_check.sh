#!/usr/bin/env bash
# The whole GPU check in one call: install the carried wheels (.whl/, from scripts/fetch_device_wheels.sh) without
# a registry, run the GPU tests, then the GPU benchmark size by size. Everything goes under $OUT (default
# ./gpu-results), at most 6 files: environment.txt, install.log, gpu_tests.log, reader_gpu.log, reader_gpu.jsonl,
# reader_gpu.md. Each benchmark row is written as soon as it exists.
#
#   bash benchmarks/gpu_check.sh               # on the GPU machine
#   bash benchmarks/gpu_check.sh --smoke-cpu   # the dry run: same steps on the CPU, tiny shapes
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
smoke=0; [ "${1:-}" = "--smoke-cpu" ] && smoke=1
python=${PYTHON:-python3}
export HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
site=${SITE_DIR:-/tmp/spanbert-site}
if compgen -G ".whl/*.whl" > /dev/null; then
  rm -rf "$site"
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
    > "$out/install.log" 2>&1 || { echo "wheel install failed; see install.log"; cat "$out/install.log"; exit 3; }
  export PYTHONPATH="$site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$python" -c "import sys, torch, transformers, haystack; print('python', sys.version.split()[0], '| torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), '| transformers', transformers.__version__, '| haystack', haystack.__version__)"
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt"
started=$(date +%s)
if [ $smoke -eq 1 ]; then
  SPANBERT_TEST_DEVICE=cpu "$python" -m pytest -p no:cacheprovider tests/gpu -q -rs 2>&1 | tee "$out/gpu_tests.log"
  tests_rc=${PIPESTATUS[0]}
  "$python" benchmarks/reader_gpu.py --out "$out" --smoke-cpu 2>&1 | tee "$out/reader_gpu.log"
  bench_rc=${PIPESTATUS[0]}
else
  "$python" -m pytest -p no:cacheprovider tests/gpu -q -rs 2>&1 | tee "$out/gpu_tests.log"
  tests_rc=${PIPESTATUS[0]}
  # bounded, so the call ends inside its limit; rows already measured stay in reader_gpu.jsonl/.md
  timeout "${BENCH_TIMEOUT:-270}" "$python" benchmarks/reader_gpu.py --out "$out" --sizes "${SIZES:-base,large}" \
    2>&1 | tee "$out/reader_gpu.log"
  bench_rc=${PIPESTATUS[0]}
fi
echo "gpu tests exit $tests_rc, benchmark exit $bench_rc, $(( $(date +%s) - started )) s after install" \
  | tee -a "$out/environment.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
