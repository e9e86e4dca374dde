#!/usr/bin/env bash
# Dry run of the GPU check, here, the way the device machine will run it: a fresh Python 3.12 venv holding only
# the device image's relevant packages at its versions (torch 2.11.0, transformers 5.17.0, tokenizers 0.23.2,
# safetensors 0.8.0, accelerate 1.15.0, numpy 2.5.2, huggingface_hub 1.33.0, sentence-transformers 6.0.1, and
# pytest, hypothesis, pyyaml, tqdm, jinja2, networkx, requests, httpx, anyio, psutil ...; see
# ../.library/device/KINDS.md), then the carried wheels with --no-index, then benchmarks/gpu_check.sh --smoke-cpu
# from a fresh clone. Also prints the size of what the device call carries (limit 64 MiB).
# Usage: bash scripts/gpu_dry_run.sh [VENV_DIR]   (PYTHON312=/path/to/python3.12 to choose the interpreter)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-/tmp/spanbert-devicelike}"
python312="$(bash "$repo/scripts/find_python312.sh")"  # PYTHON312 first, then PATH, pyenv versions, /usr
if [ ! -x "$venv/bin/python" ]; then
  "$python312" -m venv "$venv"
  "$venv/bin/pip" install -q "torch==2.11.0" "transformers==5.17.0" "tokenizers==0.23.2" "safetensors==0.8.0" \
    "accelerate==1.15.0" "numpy==2.5.2" "huggingface_hub==1.33.0" "sentence-transformers==6.0.1" pyyaml tqdm \
    pytest hypothesis psutil jinja2 networkx requests typing-extensions packaging filelock fsspec regex attrs \
    httpx anyio click rich markupsafe python-dateutil certifi
fi
[ -d "$repo/.whl" ] || bash "$repo/scripts/fetch_device_wheels.sh"
clone="$(mktemp -d)/repo"
git clone -q "$repo" "$clone"
cp -r "$repo/.whl" "$clone/.whl"
[ -d "$repo/.gpu-data" ] && cp -r "$repo/.gpu-data" "$clone/.gpu-data"
travels=$(cd "$clone" && { git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1; du -cb .whl .gpu-data 2>/dev/null | tail -1 | cut -f1; } | paste -sd+ | bc)
echo "what travels (tracked files + .whl + .gpu-data): $((travels / 1048576)) MiB of 64 MiB"
cd "$clone"
OUT="$(mktemp -d)" PYTHON="$venv/bin/python" SITE_DIR="$(mktemp -d)/site" bash benchmarks/gpu_check.sh --smoke-cpu
