"""Read plain-text corpora (for pre-training and as evaluation distractors)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from spanbert_reader.data.records import parse_records

logger = logging.getLogger(__name__)


def read_corpus(paths: Iterable[str]) -> list[str]:
    """Documents from text/markdown files (one per file), JSON lines / JSON records and SQuAD JSON (contexts)."""
    documents: list[str] = []
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"Corpus path {raw} does not exist")
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    for path in files:
        if path.suffix.lower() in (".json", ".jsonl"):
            try:
                documents.extend(text for text, _ in parse_records(path.name, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                logger.warning("Skipping %s: not readable as SQuAD JSON or JSON records (%s)", path, exc)
        elif path.suffix.lower() in (".txt", ".md", ".text", ".markdown"):
            try:
                text = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                logger.warning("Skipping %s: not readable as UTF-8 text (%s)", path, exc)
                continue
            if "\x00" in text:
                logger.warning("Skipping %s: binary data, not text", path)
                continue
            if text.strip():
                documents.append(text)
        else:
            logger.warning("Skipping %s: pre-training reads .txt, .md, .json and .jsonl", path)
    return [d for d in dict.fromkeys(documents) if d and d.strip()]
