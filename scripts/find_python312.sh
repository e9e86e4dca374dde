#!/usr/bin/env bash
# Prints the path of a Python 3.12 interpreter that runs, for the GPU dry run. Tries, in order: $PYTHON312,
# python3.12 on PATH, every pyenv version 3.12.* ($PYENV_ROOT or ~/.pyenv), then /usr/local/bin and /usr/bin.
# A candidate counts only when it starts and reports 3.12: a pyenv shim with no version selected ("Python
# versions to be found at the same time" / "version not installed") is skipped. Exit 1 with a message if none.
set -uo pipefail
candidates=()
[ -n "${PYTHON312:-}" ] && candidates+=("$PYTHON312")
found="$(command -v python3.12 2>/dev/null || true)"
[ -n "$found" ] && candidates+=("$found")
root="${PYENV_ROOT:-$HOME/.pyenv}"
for version in $(ls -1 "$root/versions" 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -rV); do
  candidates+=("$root/versions/$version/bin/python3.12")
done
candidates+=(/usr/local/bin/python3.12 /usr/bin/python3.12)
for candidate in "${candidates[@]}"; do
  [ -x "$candidate" ] || continue
  if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    echo "$candidate"
    exit 0
  fi
done
echo "find_python312.sh: no working Python 3.12 (tried: ${candidates[*]}); set PYTHON312=/path/to/python3.12" >&2
exit 1
