"""``QARecordsToDocument``: SQuAD-format JSON and JSON-lines records → Documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Document, component, logging
from haystack.dataclasses import ByteStream

from spanbert_reader.data.records import CONTENT_KEYS, parse_records

logger = logging.getLogger(__name__)

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
        return parse_records(name, raw, tuple(self.content_keys))

    @component.output_types(documents=list[Document])
    def run(self, sources: list[str | Path | ByteStream], meta: dict[str, Any] | list[dict[str, Any]] | None = None
            ) -> dict[str, list[Document]]:
        """Convert each source; ``meta`` is merged into every Document of the matching source."""
        documents: list[Document] = []
        metas = meta if isinstance(meta, list) else [meta or {}] * len(sources)
        for source, extra in zip(sources, metas, strict=True):
            try:
                offset = 0
                if isinstance(source, ByteStream):  # a file, or a chunk of a large JSON-lines file
                    name = str(source.meta.get("file_path", "bytestream"))
                    raw = source.data.decode("utf-8")
                    base = {k: v for k, v in source.meta.items() if k != "line_offset"}
                    offset = int(source.meta.get("line_offset", 0) or 0)
                else:
                    name = str(source)
                    raw = Path(source).read_text(encoding="utf-8")
                    base = {"file_path": name}
                parsed = self._parse(name, raw)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                logger.warning("Skipping {source}: not readable as SQuAD JSON or JSON records ({error})",
                               source=str(source), error=str(exc))
                continue
            for index, (content, record_meta) in enumerate(parsed):
                if offset and isinstance(record_meta.get("line"), int):
                    record_meta = {**record_meta, "line": record_meta["line"] + offset}
                documents.append(Document(content=content, meta={**base, **(extra or {}), **record_meta,
                                                                  "record": index}))
        return {"documents": documents}
