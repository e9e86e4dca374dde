"""Index files into a document store through a bundled (or user) indexing pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spanbert_reader.app.elasticsearch import check_elasticsearch_stores, elasticsearch_documents
from spanbert_reader.app.errors import AppError
from spanbert_reader.app.pipelines import load_pipeline, warm_up_components
from spanbert_reader.app.settings import AppSettings, redact_url
from spanbert_reader.app.stores import (
    IndexLock,
    document_stores,
    inject_store,
    load_memory_store,
    prune_missing_files,
    remove_file_passages,
    save_memory_store,
    uses_memory_store,
)
from spanbert_reader.data import jsonio
from spanbert_reader.data.records import parse_records

SUPPORTED_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".pdf": "pdf", ".json": "records", ".jsonl": "records"}


@dataclass
class IndexReport:
    """What an indexing run did."""

    files: int = 0
    passages: int = 0
    replaced: int = 0  # old passages of re-indexed files that were removed
    pruned: int = 0  # passages of files that no longer exist, removed by ``prune``
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    store: str = ""  # where the passages went (a file, or a server and index)
    refused: list = field(default_factory=list)  # RefusedDocument: passages the store did not acknowledge


class PartialIndexError(AppError):
    """The store acknowledged only some passages; :attr:`report` says how many were written and which were
    refused, with the server's reasons."""

    def __init__(self, report: IndexReport, shown: int = 10) -> None:
        from haystack_integrations.components.writers.spanbert.bulk import error_counts

        self.report = report
        refused = report.refused
        lines = [f"{report.store} acknowledged {report.passages} of {report.passages + len(refused)} passage(s); "
                 f"{len(refused)} were refused and are not in the index ({error_counts(refused)}). Fix them and "
                 "index those files again (indexing a file again replaces its passages):"]
        lines += [f"  {item.source}: {item.error}"
                  + (f" (HTTP {item.status})" if item.status else "") + f": {item.reason}" for item in refused[:shown]]
        if len(refused) > shown:
            lines.append(f"  ... and {len(refused) - shown} more")
        super().__init__("\n".join(lines))


def indexing_pipeline_name(settings: AppSettings, embed: bool) -> str:
    """The bundled indexing pipeline for the settings' store (with embeddings when ``embed``)."""
    if settings.store == "elasticsearch":
        return "elasticsearch_hybrid_indexing" if embed else "elasticsearch_indexing"
    return "inmemory_embedding_indexing" if embed else "inmemory_indexing"


def index_files(settings: AppSettings, paths: Iterable[str | os.PathLike], *, embed: bool = False,
                pipeline: str | None = None, split_length: int | None = None, progress: bool = True,
                prune: bool = False, on_wait=None) -> IndexReport:
    """Index the supported files under ``paths`` into the settings' store.

    A file indexed before has its old passages replaced (unchanged files keep their document ids); with
    ``prune``, passages of files that no longer exist are removed. An in-memory index is changed under an
    exclusive lock (concurrent runs wait their turn; ``on_wait(lock_path)`` is called once when they do) and
    saved atomically, so an interrupted or failed run leaves the previous index as it was.
    Raises AppError when no file can be indexed (nothing is written then).
    """
    from contextlib import nullcontext

    report = IndexReport()
    files, report.skipped = collect_files(paths)
    report.files = len(files)
    if not files:
        raise AppError("No indexable files found."
                       + "".join(f"\n  {path}: {reason}" for path, reason in report.skipped))
    loaded = load_pipeline(pipeline or indexing_pipeline_name(settings, embed),
                           settings.overrides(SPLIT_LENGTH=split_length))
    check_elasticsearch_stores(loaded, settings)
    warm_up_components(loaded)  # an embedding model that cannot be loaded is named before any file is read
    memory = uses_memory_store(loaded)
    lock = IndexLock(settings.index_name, settings.data_dir, on_wait=on_wait) if memory else nullcontext()
    with lock:
        store = None
        if memory:
            store = load_memory_store(settings.index_name, settings.data_dir, must_exist=False)
            inject_store(loaded, store)
        targets = list({id(s): s for _, s in document_stores(loaded)}.values())
        report.passages, report.replaced, report.refused = run_indexing(loaded, files, targets, progress=progress)
        if prune:
            report.pruned = sum(prune_missing_files(target) for target in targets)
        if store is not None:
            report.store = str(save_memory_store(store, settings.index_name, settings.data_dir))
        else:
            report.store = f"{redact_url(settings.elasticsearch_url)} index '{settings.index_name}'"
    if report.refused:
        raise PartialIndexError(report)
    return report


def collect_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders recursively; return supported files and (path, reason) for everything skipped."""
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        try:
            path = Path(raw).expanduser().resolve()  # absolute: a file is recognised when it is indexed again
        except (OSError, RuntimeError):  # a symbolic link loop
            skipped.append((str(raw), "a symbolic link loop"))
            continue
        if not path.exists():
            skipped.append((str(raw), "a dangling or looping symbolic link" if Path(raw).is_symlink()
                            else "does not exist"))
            continue
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name.startswith(".") or (candidate.is_dir() and not candidate.is_symlink()):
                continue
            special = special_file(candidate)
            if special:
                skipped.append((str(candidate), special))
                continue
            reason = check_file(candidate)
            if reason:
                skipped.append((str(candidate), reason))
            else:
                files.append(candidate)
    return files, skipped


def special_file(path: Path) -> str | None:
    """Why ``path`` is not an ordinary file to read (a FIFO would block a reader for ever), or None."""
    import stat

    if path.is_symlink() and not path.exists():
        return "a dangling or looping symbolic link"
    if path.is_dir():
        return "a symbolic link to a folder (not followed)"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"not a regular file ({kind})"
    return None


def check_file(path: Path) -> str | None:
    """Why ``path`` cannot be indexed, or None when it looks fine."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported file type '{suffix or path.name}' (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not data.strip():
        return "empty file"
    kind = SUPPORTED_SUFFIXES[suffix]
    if kind in ("text", "markdown", "html", "records"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        if "\x00" in text:
            return "binary data, not text"
        if kind == "records":
            if suffix == ".jsonl":
                for number, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        try:
                            jsonio.loads(line)
                        except json.JSONDecodeError as exc:
                            return f"invalid JSON on line {number}: {exc.msg}"
            try:
                records = parse_records(path.name, text)
            except json.JSONDecodeError as exc:
                return f"invalid JSON: {exc.msg} (line {exc.lineno})"
            except ValueError as exc:
                return str(exc)
            if not records:
                return ("no text in it: expected SQuAD JSON (data/paragraphs/context), or records with one of the "
                        "keys 'content', 'text', 'context', 'passage', 'extract'")
    if kind == "pdf":
        try:
            from pypdf import PdfReader

            PdfReader(str(path))
        except Exception as exc:  # pypdf raises many kinds
            return f"unreadable PDF: {exc}"
    return None


LARGE_JSONL_BYTES = 1 << 20  # JSON-lines files from this size on are indexed in chunks of records
JSONL_CHUNK_RECORDS = 500


def _written(result: dict) -> int:
    return sum(out.get("documents_written", 0) for out in result.values() if isinstance(out, dict))


def _jsonl_chunks(path: Path, records: int):
    """``(first line number - 1, text of up to ``records`` lines)`` of a JSON-lines file, read as it goes."""
    lines, offset, number = [], 0, 0
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            lines.append(line)
            if len(lines) >= records:
                yield offset, "".join(lines)
                lines, offset = [], number
    if lines:
        yield offset, "".join(lines)


def run_indexing(pipeline, files: Sequence[Path], stores: Sequence = (), batch_size: int = 16,
                 progress: bool = True, large_jsonl_bytes: int = LARGE_JSONL_BYTES) -> tuple[int, int, list]:
    """Run ``pipeline`` (router.sources → ... → writer) over files in batches, first removing each file's old
    passages from ``stores``; return (passages the store acknowledged, old passages removed, passages refused).
    A batch the store partly refuses does not stop the run. The bar counts files; a large JSON-lines file is then
    indexed in chunks of records with a bar of its own that counts records."""
    from haystack.dataclasses import ByteStream
    from tqdm.auto import tqdm

    def large(path: Path) -> bool:
        try:
            return path.suffix.lower() == ".jsonl" and path.stat().st_size >= large_jsonl_bytes
        except OSError:
            return False

    ordinary = [Path(f) for f in files if not large(Path(f))]
    streamed = [Path(f) for f in files if large(Path(f))]
    written = removed = 0
    refused: list = []

    def run(sources) -> int:
        from haystack.core.errors import PipelineRuntimeError

        from haystack_integrations.components.writers.spanbert.bulk import BulkWriteError

        try:
            return _written(pipeline.run({"router": {"sources": sources}}))
        except PipelineRuntimeError as exc:
            if not isinstance(exc.__cause__, BulkWriteError):
                raise
            refused.extend(exc.__cause__.refused)
            return exc.__cause__.written
    with tqdm(total=len(ordinary), unit="file", desc="Indexing", disable=not progress or not ordinary) as bar:
        for start in range(0, len(ordinary), batch_size):
            batch = [str(f) for f in ordinary[start: start + batch_size]]
            removed += sum(remove_file_passages(store, batch) for store in stores)
            written += run(batch)
            bar.update(len(batch))
    for path in streamed:
        removed += sum(remove_file_passages(store, [str(path)]) for store in stores)
        with path.open("rb") as handle:
            total = sum(1 for _ in handle)
        with tqdm(total=total, unit="record", desc=f"Indexing {path.name}", disable=not progress) as bar:
            for offset, text in _jsonl_chunks(path, JSONL_CHUNK_RECORDS):
                stream = ByteStream(data=text.encode("utf-8", errors="surrogateescape"), mime_type="application/jsonl",
                                    meta={"file_path": str(path), "line_offset": offset})
                written += run([stream])
                bar.update(text.count("\n") + (0 if text.endswith("\n") else 1))
    return written, removed, refused


def read_index_texts(settings: AppSettings) -> list[str]:
    """The non-empty texts of the settings' index (in memory or in Elasticsearch), e.g. to pre-train on."""
    if settings.store == "memory":
        documents = load_memory_store(settings.index_name, settings.data_dir, must_exist=True).filter_documents()
    else:
        documents = elasticsearch_documents(settings)
    return [d.content for d in documents if d.content and d.content.strip()]
