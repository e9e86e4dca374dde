#!/usr/bin/env bash
# Re-resolve the newest versions that pyproject.toml admits and write them to constraints.txt.
# Run it on a machine of the CI kind (Python 3.11, Linux x86_64), then run the README's two commands with the
# new file before committing it. pyproject.toml keeps loose ranges for library users; constraints.txt pins what
# CI and the README install use, so a new release upstream cannot turn CI red without a commit here.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.13.0
"$venv/bin/pip" install -q -e ".[dev]"
{
  echo "# Known-good versions for CI and the README install (pip install -c constraints.txt ...)."
  echo "# Refresh with scripts/refresh_constraints.sh (fresh venv, install unpinned, freeze); pyproject ranges stay loose."
  "$venv/bin/pip" freeze --exclude-editable | grep -v '^-e'
} > constraints.txt
rm -rf "$(dirname "$venv")"
echo "constraints.txt refreshed: $(grep -vc '^#' constraints.txt) pins"
