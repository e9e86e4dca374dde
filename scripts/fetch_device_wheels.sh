#!/usr/bin/env bash
# Download, here, the wheels the GPU device machine lacks (it has no package registry): Python 3.12, manylinux
# x86_64, no dependencies, into the git-ignored .whl/ folder that the device call carries. The device image
# already holds torch, transformers, tokenizers, safetensors, accelerate, numpy, pyyaml, tqdm, jinja2, httpx,
# anyio, networkx, python-dateutil (see ../.library/device/KINDS.md); this adds Haystack and what it imports.
# Versions come from constraints.txt, so the device runs what CI tests. Also copies the SQuAD workload the
# benchmark reads into the git-ignored .gpu-data/ folder (../shared does not travel).
# Usage: bash scripts/fetch_device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(haystack-ai transformers-haystack pydantic pydantic-core annotated-types typing-inspection
          docstring-parser filetype jsonschema jsonschema-specifications referencing rpds-py lazy-imports
          more-itertools openai jiter distro sniffio posthog backoff tenacity platformdirs)
version_of() { grep -i -E "^$1==" constraints.txt | head -1 | cut -d= -f3 || true; }
rm -rf .whl && mkdir -p .whl
for name in "${PACKAGES[@]}"; do
  alt=${name//-/_}
  version=$(version_of "$name"); [ -n "$version" ] || version=$(version_of "$alt")
  [ -n "$version" ] || { echo "no pin for $name in constraints.txt" >&2; exit 1; }
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$name==$version"
done
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
mkdir -p .gpu-data
if [ -f ../shared/data/squad11-train-subset.json ]; then cp ../shared/data/squad11-train-subset.json .gpu-data/; fi
grep -qx "/.gpu-data/" .git/info/exclude 2>/dev/null || echo "/.gpu-data/" >> .git/info/exclude
du -ch .whl/*.whl | tail -1
ls .whl
