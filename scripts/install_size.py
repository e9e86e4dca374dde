"""Installed size and distribution count of the core install vs. each extra and [all], from the packages in the
current environment (walks the requirement closure; run in a venv with `.[dev]` installed).

    python scripts/install_size.py
"""

from __future__ import annotations

import re
from importlib import metadata


def _name(requirement: str) -> tuple[str, set[str], str | None]:
    match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?[^;]*(?:;(.*))?", requirement)
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return match.group(1).lower().replace("_", "-"), extras, match.group(3)


def closure(root: str, extras: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen and not wanted:
            continue
        seen.add(key)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            dep, dep_extras, marker = _name(requirement)
            if marker:
                extra_match = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
                if extra_match and extra_match.group(1) not in wanted:
                    continue
                if not extra_match and ("sys_platform" in marker and "linux" not in marker):
                    continue
            if dep != key:
                todo.append((dep, dep_extras))
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            try:
                total += file.locate().stat().st_size
            except OSError:
                pass
    return total / 2**20


def main() -> None:
    core = closure("spanbert-reader", set()) - {"spanbert-reader"}
    rows = [("core", core)]
    union: set[str] = set()
    for extra in ("elasticsearch", "embeddings", "files", "serve", "train", "eval"):
        names = closure("spanbert-reader", {extra}) - {"spanbert-reader"}
        union |= names
        rows.append((f"[{extra}]", names))
    rows.append(("[all]", union))  # [all] names the other extras of this package
    torch_closure = closure("torch", set())
    for label, names in rows:
        print(f"{label:16s} {len(names):3d} distributions  {size_mb(names):8.0f} MB  "
              f"({size_mb(names - torch_closure):6.0f} MB without torch and its CUDA libraries)")


if __name__ == "__main__":
    main()
