"""``QARecordsToDocument``: SQuAD-format JSON and JSON-lines records → Documents."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from haystack import Document, component
from haystack.dataclasses import ByteStream

logger = logging.getLogger(__name__)

CONTENT_KEYS = ("content", "text", "context", "passage", "extract")


def squad_paragraphs(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(context, meta) for every paragraph of a SQuAD 1.1/2.0 dataset dictionary."""
    result = []
    for a_index, article in enumerate(data.get("data", [])):
        title = article.get("title", "")
        for p_index, paragraph in enumerate(article.get("paragraphs", [])):
            context = paragraph.get("context")
            if isinstance(context, str):
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


@component
class QARecordsToDocument:
    """Converts SQuAD JSON files, JSON lists of records and JSON-lines files into Documents.

    - SQuAD 1.1/2.0 (``{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}``): one Document per paragraph,
      with ``title``, ``squad_article`` and ``squad_paragraph`` in its meta.
    - A JSON list, or JSON lines, of objects: the first of ``content_keys`` present is the text; other scalar
      fields go to meta. A wiki-style map ``{key: {"extract": ...}}`` works too.

    Records without text are skipped with a warning; an unparsable file is skipped with a warning naming it.
    """

    def __init__(self, content_keys: list[str] | None = None) -> None:
        self.content_keys = list(content_keys) if content_keys else list(CONTENT_KEYS)

    def _parse(self, name: str, raw: str) -> list[tuple[str, dict[str, Any]]]:
        keys = tuple(self.content_keys)
        stripped = raw.lstrip()
        records: list[Any]
        if name.endswith(".jsonl") or (stripped.startswith("{") and "\n{" in stripped and not name.endswith(".json")):
            records = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            data = json.loads(raw)
            if isinstance(data, dict) and isinstance(data.get("data"), list):
                return squad_paragraphs(data)
            if isinstance(data, dict):
                records = [({"key": k, **v} if isinstance(v, dict) else v) for k, v in data.items()]
            elif isinstance(data, list):
                records = data
            else:
                raise ValueError("expected a SQuAD dataset, a list of records or a map of records")
        result = []
        skipped = 0
        for record in records:
            content, meta = _record_content(record, keys)
            if content and content.strip():
                result.append((content, meta))
            else:
                skipped += 1
        if skipped:
            logger.warning("%s: skipped %d record(s) without text (looked for keys %s)", name, skipped, list(keys))
        return result

    @component.output_types(documents=list[Document])
    def run(self, sources: list[str | Path | ByteStream], meta: dict[str, Any] | list[dict[str, Any]] | None = None
            ) -> dict[str, list[Document]]:
        """Convert each source; ``meta`` is merged into every Document of the matching source."""
        documents: list[Document] = []
        metas = meta if isinstance(meta, list) else [meta or {}] * len(sources)
        for source, extra in zip(sources, metas, strict=True):
            try:
                if isinstance(source, ByteStream):
                    name = str(source.meta.get("file_path", "bytestream"))
                    raw = source.data.decode("utf-8")
                    base = {**source.meta}
                else:
                    name = str(source)
                    raw = Path(source).read_text(encoding="utf-8")
                    base = {"file_path": name}
                parsed = self._parse(name, raw)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                logger.warning("Skipping %s: not readable as SQuAD JSON or JSON records (%s)", source, exc)
                continue
            for index, (content, record_meta) in enumerate(parsed):
                documents.append(Document(content=content, meta={**base, **(extra or {}), **record_meta,
                                                                  "record": index}))
        return {"documents": documents}
