"""A document writer that counts only what the store acknowledged.

For an Elasticsearch store it sends bulk requests itself: items refused with 429 (too many requests) are retried
with exponential back-off, a request the server finds larger than its ``http.max_content_length`` (413) is split
in halves until it fits, and whatever is still refused is raised as :class:`BulkWriteError` listing each
passage with the server's reason, after every other passage was written. Other stores are written as Haystack's
``DocumentWriter`` writes them.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.document_stores.errors import DocumentStoreError
from haystack.document_stores.types import DocumentStore, DuplicatePolicy

logger = logging.getLogger(__name__)

MAX_CHUNK_DOCUMENTS = 500
MAX_CHUNK_BYTES = 10 * 1024 * 1024  # well below Elasticsearch's default http.max_content_length of 100 MB


@dataclass(frozen=True)
class RefusedDocument:
    """One passage the store did not acknowledge, with the server's status and reason."""

    id: str
    source: str  # file (and JSONL line) the passage came from, for messages
    status: int | None
    error: str  # the server's error type, e.g. mapper_parsing_exception
    reason: str


@dataclass
class BulkWriteError(DocumentStoreError):
    """Some passages were not written; ``written`` were (acknowledged by the store), ``refused`` were not."""

    written: int
    refused: list[RefusedDocument] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        first = self.refused[0] if self.refused else None
        example = f" First: {first.source}: {first.reason}" if first else ""
        return (f"{len(self.refused)} passage(s) were not written ({error_counts(self.refused)}); {self.written} "
                f"were.{example}")


def error_counts(refused: list[RefusedDocument]) -> str:
    """``"type xN; type xM"``: the server's error types of ``refused``, most frequent first."""
    return "; ".join(f"{kind} x{count}" for kind, count in Counter(r.error for r in refused).most_common())


def _source(document: Document) -> str:
    meta = document.meta or {}
    where = str(meta.get("file_path") or meta.get("url") or document.id[:12])
    return f"{where}:{meta['line']}" if isinstance(meta.get("line"), int) else where


def _is_elasticsearch(store: Any) -> bool:
    return any(cls.__name__ == "ElasticsearchDocumentStore" for cls in type(store).__mro__)


@component
class AcknowledgedDocumentWriter:
    """Writes documents to a document store and returns how many the store acknowledged.

    A drop-in for Haystack's ``DocumentWriter`` (same ``document_store`` and ``policy``). With an Elasticsearch
    store, 429 rejections are retried up to ``max_retries`` times (waits of ``initial_backoff`` seconds,
    doubling up to ``max_backoff``), oversized requests are split, and passages still refused raise
    :class:`BulkWriteError` once the rest are written.

    Example:
        >>> writer = AcknowledgedDocumentWriter(document_store=store, policy=DuplicatePolicy.OVERWRITE)
        >>> writer.run(documents)["documents_written"]
    """

    def __init__(self, document_store: DocumentStore, policy: DuplicatePolicy = DuplicatePolicy.NONE,
                 max_retries: int = 5, initial_backoff: float = 1.0, max_backoff: float = 30.0,
                 max_chunk_bytes: int = MAX_CHUNK_BYTES) -> None:
        """Write to ``document_store`` with ``policy`` for passages already there; the rest tune retries and
        request sizes for Elasticsearch."""
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        for name, value in (("initial_backoff", initial_backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if isinstance(max_chunk_bytes, bool) or not isinstance(max_chunk_bytes, int) or max_chunk_bytes < 1024:
            raise ValueError(f"max_chunk_bytes must be a whole number >= 1024, got {max_chunk_bytes!r}")
        self.document_store = document_store
        self.policy = policy
        self.max_retries = max_retries
        self.initial_backoff = float(initial_backoff)
        self.max_backoff = float(max_backoff)
        self.max_chunk_bytes = max_chunk_bytes

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (its store included)."""
        return default_to_dict(self, document_store=self.document_store, policy=self.policy.name,
                               max_retries=self.max_retries, initial_backoff=self.initial_backoff,
                               max_backoff=self.max_backoff, max_chunk_bytes=self.max_chunk_bytes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcknowledgedDocumentWriter:
        """Deserialise the component (its store included)."""
        init_params = data.get("init_parameters", {})
        if isinstance(init_params.get("policy"), str):
            init_params["policy"] = DuplicatePolicy[init_params["policy"]]
        return default_from_dict(cls, data)

    @component.output_types(documents_written=int)
    def run(self, documents: list[Document], policy: DuplicatePolicy | None = None) -> dict[str, int]:
        """Write ``documents``; ``documents_written`` counts what the store acknowledged. Raises
        :class:`BulkWriteError` (after writing the rest) when an Elasticsearch store refused some."""
        policy = self.policy if policy is None else policy
        if not _is_elasticsearch(self.document_store):
            return {"documents_written": self.document_store.write_documents(documents=documents, policy=policy)}
        return {"documents_written": self._write_elasticsearch(documents, policy)}

    def _actions(self, documents: list[Document], policy: DuplicatePolicy) -> list[tuple[Document, list, int]]:
        store = self.document_store
        operation = "index" if policy == DuplicatePolicy.OVERWRITE else "create"
        actions = []
        for document in documents:
            body = document.to_dict()
            for name in ("embedding", "blob", "score"):  # as the store does: null is refused by typed fields
                if body.get(name) is None:
                    body.pop(name, None)
            if hasattr(store, "_handle_sparse_embedding"):
                store._handle_sparse_embedding(body, document.id)
            header = {operation: {"_id": document.id}}
            size = len(json.dumps(header)) + len(json.dumps(body, default=str).encode("utf-8")) + 2
            actions.append((document, [header, body], size))
        return actions

    def _chunks(self, actions: list) -> list[list]:
        chunks, current, size = [], [], 0
        for action in actions:
            if current and (len(current) >= MAX_CHUNK_DOCUMENTS or size + action[2] > self.max_chunk_bytes):
                chunks.append(current)
                current, size = [], 0
            current.append(action)
            size += action[2]
        if current:
            chunks.append(current)
        return chunks

    def _write_elasticsearch(self, documents: list[Document], policy: DuplicatePolicy) -> int:
        from elasticsearch import ApiError, TransportError

        store = self.document_store
        client = store.client  # creates the index with its mapping on first use
        options: dict[str, Any] = {"index": store._index, "refresh": "wait_for"}
        if getattr(store, "_ingest_pipeline", None):
            options["pipeline"] = store._ingest_pipeline
        written = 0
        refused: list[RefusedDocument] = []
        queue = deque((chunk, 0) for chunk in self._chunks(self._actions(documents, policy)))

        def refuse(action, status, error, reason) -> None:
            refused.append(RefusedDocument(action[0].id, _source(action[0]), status, error, reason))

        while queue:
            chunk, attempt = queue.popleft()
            operations = [part for action in chunk for part in action[1]]
            try:
                response = client.bulk(operations=operations, **options)
            except ApiError as exc:
                status = exc.meta.status
                if status == 413 and len(chunk) > 1:  # larger than http.max_content_length: halves
                    logger.info("A bulk request of %d passages is larger than the server accepts "
                                "(http.max_content_length): splitting it in two", len(chunk))
                    middle = len(chunk) // 2
                    queue.appendleft((chunk[middle:], attempt))
                    queue.appendleft((chunk[:middle], attempt))
                    continue
                if status == 429 and attempt < self.max_retries:
                    self._back_off(attempt, len(chunk))
                    queue.appendleft((chunk, attempt + 1))
                    continue
                reason = ("the passage alone is larger than the server's http.max_content_length"
                          if status == 413 else str(exc).splitlines()[0])
                for action in chunk:
                    refuse(action, status, getattr(exc, "error", None) or f"http_{status}", reason)
                continue
            except TransportError as exc:  # connection refused or lost, timeout: not acknowledged
                for action in chunk:
                    refuse(action, None, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "no reply")
                continue
            retry = []
            for action, item in zip(chunk, response.body.get("items", []), strict=False):
                result = next(iter(item.values()))
                status = result.get("status", 0)
                if 200 <= status < 300:
                    written += 1
                elif status == 429 and attempt < self.max_retries:
                    retry.append(action)
                elif status == 409 and policy == DuplicatePolicy.SKIP:
                    continue
                else:
                    error = result.get("error") or {}
                    reason = error.get("reason") or "refused"
                    if isinstance(error.get("caused_by"), dict) and error["caused_by"].get("reason"):
                        reason += f" ({error['caused_by']['reason']})"
                    refuse(action, status, error.get("type") or f"http_{status}", reason)
            if retry:
                self._back_off(attempt, len(retry))
                queue.appendleft((retry, attempt + 1))
        if refused:
            raise BulkWriteError(written, refused)
        return written

    def _back_off(self, attempt: int, count: int) -> None:
        wait = min(self.max_backoff, self.initial_backoff * 2 ** attempt)
        logger.warning("Elasticsearch is busy (429 Too Many Requests): retrying %d passage(s) in %.1f s (try %d of "
                       "%d)", count, wait, attempt + 1, self.max_retries)
        time.sleep(wait)
