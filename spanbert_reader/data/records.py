"""Records in SQuAD JSON, JSON lists/maps and JSON lines: the texts (and scalar metadata) they hold."""

from __future__ import annotations

import logging
from typing import Any

from spanbert_reader.data import jsonio

logger = logging.getLogger(__name__)

CONTENT_KEYS = ("content", "text", "context", "passage", "extract")


def squad_paragraphs(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(context, meta) for every paragraph of a SQuAD 1.1/2.0 dataset dictionary (malformed entries skipped)."""
    result = []
    for a_index, article in enumerate(data.get("data") or []):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            continue
        title = article.get("title") if isinstance(article.get("title"), str) else ""
        for p_index, paragraph in enumerate(article["paragraphs"]):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if isinstance(context, str) and context.strip():
                result.append((context, {"title": title, "squad_article": a_index, "squad_paragraph": p_index}))
    return result


def _record_content(record: Any, content_keys: tuple[str, ...]) -> tuple[str | None, dict[str, Any]]:
    if isinstance(record, str):
        return record, {}
    if not isinstance(record, dict):
        return None, {}
    for key in content_keys:
        if isinstance(record.get(key), str):
            meta = {k: v for k, v in record.items() if k != key and isinstance(v, str | int | float | bool)}
            return record[key], meta
    return None, {}


def parse_records(name: str, raw: str, content_keys: tuple[str, ...] = CONTENT_KEYS
                  ) -> list[tuple[str, dict[str, Any]]]:
    """(text, meta) of each record in a SQuAD JSON, JSON list/map or JSON-lines file's text ``raw``.

    Raises ValueError (or ``json.JSONDecodeError``) when ``raw`` is none of those.
    """
    keys = tuple(content_keys)
    stripped = raw.lstrip()
    records: list[Any]
    lines: list[int | None]
    if name.endswith(".jsonl") or (stripped.startswith("{") and "\n{" in stripped and not name.endswith(".json")):
        numbered = [(number, line) for number, line in enumerate(raw.splitlines(), start=1) if line.strip()]
        records = [jsonio.loads(line) for _, line in numbered]
        lines = [number for number, _ in numbered]
    else:
        data = jsonio.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return squad_paragraphs(data)
        if isinstance(data, dict):
            records = [({"key": k, **v} if isinstance(v, dict) else v) for k, v in data.items()]
        elif isinstance(data, list):
            records = data
        else:
            raise ValueError("expected a SQuAD dataset, a list of records or a map of records")
        lines = [None] * len(records)
    result = []
    skipped = 0
    for record, line in zip(records, lines, strict=True):
        content, meta = _record_content(record, keys)
        if content and content.strip():
            result.append((content, {**meta, "line": line} if line is not None else meta))
        else:
            skipped += 1
    if skipped:
        logger.warning("%s: skipped %d record(s) without text (looked for keys %s)", name, skipped, list(keys))
    return result
