"""Index files into a document store through a bundled (or user) indexing pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.pipelines import load_pipeline
from spanbert_reader.app.settings import AppSettings
from spanbert_reader.app.stores import check_elasticsearch, inject_store, load_memory_store, save_memory_store

SUPPORTED_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".pdf": "pdf", ".json": "records", ".jsonl": "records"}


@dataclass
class IndexReport:
    """What an indexing run did."""

    files: int = 0
    passages: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    store: str = ""  # where the passages went (a file, or a server and index)


def indexing_pipeline_name(settings: AppSettings, embed: bool) -> str:
    """The bundled indexing pipeline for the settings' store (with embeddings when ``embed``)."""
    if settings.store == "elasticsearch":
        return "elasticsearch_hybrid_indexing" if embed else "elasticsearch_indexing"
    return "inmemory_embedding_indexing" if embed else "inmemory_indexing"


def index_files(settings: AppSettings, paths: Iterable[str | os.PathLike], *, embed: bool = False,
                pipeline: str | None = None, split_length: int | None = None, progress: bool = True) -> IndexReport:
    """Index the supported files under ``paths`` into the settings' store; raises AppError when none is found."""
    report = IndexReport()
    files, report.skipped = collect_files(paths)
    report.files = len(files)
    if not files:
        raise AppError("No indexable files found."
                       + "".join(f"\n  {path}: {reason}" for path, reason in report.skipped))
    if settings.store == "elasticsearch":
        check_elasticsearch(settings.elasticsearch_url, api_key=settings.es_api_key)
    loaded = load_pipeline(pipeline or indexing_pipeline_name(settings, embed),
                           settings.overrides(SPLIT_LENGTH=split_length))
    store = None
    if settings.store == "memory":
        store = load_memory_store(settings.index_name, settings.data_dir, must_exist=False)
        inject_store(loaded, store)
    report.passages = run_indexing(loaded, files, progress=progress)
    if store is not None:
        report.store = str(save_memory_store(store, settings.index_name, settings.data_dir))
    else:
        report.store = f"{settings.elasticsearch_url} index '{settings.index_name}'"
    return report


def collect_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders recursively; return supported files and (path, reason) for everything skipped."""
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            skipped.append((str(raw), "does not exist"))
            continue
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name.startswith("."):
                continue
            reason = check_file(candidate)
            if reason:
                skipped.append((str(candidate), reason))
            else:
                files.append(candidate)
    return files, skipped


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
        if kind == "records":
            try:
                if suffix == ".jsonl":
                    for line in text.splitlines():
                        if line.strip():
                            json.loads(line)
                else:
                    json.loads(text)
            except json.JSONDecodeError as exc:
                return f"invalid JSON: {exc.msg} (line {exc.lineno})"
    if kind == "pdf":
        try:
            from pypdf import PdfReader

            PdfReader(str(path))
        except Exception as exc:  # pypdf raises many kinds
            return f"unreadable PDF: {exc}"
    return None


def run_indexing(pipeline, files: Sequence[Path], batch_size: int = 16, progress: bool = True) -> int:
    """Run ``pipeline`` (router.sources → ... → writer) over files in batches; return passages written."""
    from tqdm.auto import tqdm

    written = 0
    bar = tqdm(total=len(files), unit="file", desc="Indexing", disable=not progress)
    for start in range(0, len(files), batch_size):
        batch = [str(f) for f in files[start: start + batch_size]]
        result = pipeline.run({"router": {"sources": batch}})
        written += sum(out.get("documents_written", 0) for out in result.values() if isinstance(out, dict))
        bar.update(len(batch))
    bar.close()
    return written
