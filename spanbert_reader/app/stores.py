"""The persistent in-memory store: where index files live, atomic saves, one writer at a time (a lock), re-index
and prune bookkeeping, and finding or replacing the stores a pipeline uses. Elasticsearch checks live in
:mod:`spanbert_reader.app.elasticsearch`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.settings import DEFAULT_MEMORY_INDEX as DEFAULT_INDEX
from spanbert_reader.data import jsonio


class StoreError(AppError, RuntimeError):
    """A document store cannot be used (unreachable server, missing index, empty store)."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where in-memory stores are saved: ``explicit`` (the settings' ``data_dir``), or the user's cache dir."""
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spanbert-reader")) / "stores"


MAX_INDEX_NAME = 100


def _check_index_name(index: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", index or ""):
        raise StoreError(f"Index name {index!r} is invalid: use letters, digits, '_', '-' and '.'.")
    if len(index) > MAX_INDEX_NAME:
        raise StoreError(f"Index name is {len(index)} characters long; use at most {MAX_INDEX_NAME}.")
    return index


def memory_store_path(index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None) -> Path:
    """The file holding an in-memory index."""
    return data_dir(directory) / f"{_check_index_name(index)}.json"


def _data_dir_usable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"The data directory {folder} is a file, not a folder: pass --data-dir FOLDER (or set "
                         "SPANBERT_DATA_DIR).")


def _unwritable(folder: Path, exc: OSError) -> StoreError:
    return StoreError(f"Cannot write to the data directory {folder} ({exc.strerror or exc}): pass --data-dir "
                      "FOLDER you can write to (or set SPANBERT_DATA_DIR).")


def _save_failed(path: Path, exc: OSError) -> StoreError:
    import errno

    advice = {errno.ENOSPC: "free some disk space", errno.EDQUOT: "free some of your disk quota",
              errno.EFBIG: "raise the file size limit (ulimit -f)"}.get(exc.errno or 0)
    if advice is None:
        return _unwritable(path.parent, exc)
    return StoreError(f"Saving the index {path} failed ({exc.strerror}); the previous index is kept unchanged: "
                      f"{advice} and index again.")


def load_memory_store(index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None,
                      must_exist: bool = True):
    """The in-memory store saved for ``index`` (a new empty one when ``must_exist`` is False).

    A file that cannot be read as an index raises :class:`StoreError` naming it and saying how to recover.
    """
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    path = memory_store_path(index, directory)
    _data_dir_usable(path.parent)
    if path.exists():
        try:
            return _read_memory_store(path)
        except Exception as exc:  # truncated or foreign JSON, wrong structure, unreadable file
            raise StoreError(f"The in-memory index file {path} cannot be read ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Move it away and run "
                             "`spanbert-qa index PATH...` again to rebuild it.") from exc
    if must_exist:
        raise StoreError(f"No in-memory index '{index}' in {path.parent}: run `spanbert-qa index PATH...` first.")
    return InMemoryDocumentStore(index=index, shared=False)


def _read_memory_store(path: Path):
    """A saved in-memory store with private storage (Haystack's ``load_from_disk`` shares the storage of every
    store with the same index name in the process, so two data dirs would leak into each other)."""

    from haystack import Document, default_from_dict
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.document_stores.types import DuplicatePolicy

    data = jsonio.loads(path.read_text(encoding="utf-8"))
    documents = data.pop("documents")
    data.setdefault("init_parameters", {})["shared"] = False
    store = default_from_dict(InMemoryDocumentStore, data)
    store.write_documents([Document.from_dict(d) for d in documents], policy=DuplicatePolicy.OVERWRITE)
    return store


def has_embeddings(store) -> bool:
    """True when the in-memory store's documents carry embeddings (the index was built with ``--embed``)."""
    first = next(iter(store.storage.values()), None)
    return first is not None and first.embedding is not None


def save_memory_store(store, index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None) -> Path:
    """Persist an in-memory store atomically: written to a temporary file in the same folder, flushed to disk,
    then renamed over the old file, so an interrupted or failed save leaves the previous index intact."""
    import tempfile

    path = memory_store_path(index, directory)
    _data_dir_usable(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path.parent, exc) from exc
    os.close(handle)
    try:
        store.save_to_disk(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _save_failed(path, exc) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        directory_handle = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)
    except OSError:
        pass
    return path


class IndexLock:
    """An exclusive lock on one in-memory index (a ``.lock`` file beside it): writers take it around their whole
    load-change-save, so concurrent ``spanbert-qa index`` runs serialise and none loses the other's passages."""

    def __init__(self, index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None,
                 timeout: float = 600.0, on_wait=None) -> None:
        self.path = memory_store_path(index, directory).with_suffix(".lock")
        self.timeout = timeout
        self.on_wait = on_wait
        self._handle = None

    def __enter__(self) -> IndexLock:
        import fcntl
        import time

        _data_dir_usable(self.path.parent)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a+")
        except OSError as exc:
            raise _unwritable(self.path.parent, exc) from exc
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._sweep_orphans()
                return self
            except BlockingIOError:
                if not waited and self.on_wait:
                    self.on_wait(self.path)
                waited = True
                if time.monotonic() > deadline:
                    self._handle.close()
                    raise StoreError(f"Another process has held {self.path} for over {self.timeout:.0f} s; try "
                                     "again when it has finished.") from None
                time.sleep(0.2)

    def _sweep_orphans(self) -> None:
        """Remove the temporary files of saves that were killed: every writer holds this lock, so while we hold it
        no save of this index is under way and any of its temporary files is left over."""
        index_file = self.path.with_suffix(".json").name
        for orphan in self.path.parent.glob(f".{index_file}.*.tmp"):
            try:
                orphan.unlink()
            except OSError:
                pass

    def __exit__(self, *exc_info) -> None:
        import fcntl

        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def remove_file_passages(store, file_paths: list[str]) -> int:
    """Delete the passages that came from ``file_paths`` (their ``meta.file_path``); return how many."""
    if not file_paths:
        return 0
    found = store.filter_documents({"field": "meta.file_path", "operator": "in", "value": list(file_paths)})
    if found:
        store.delete_documents([d.id for d in found])
    return len(found)


def prune_missing_files(store) -> int:
    """Delete the passages whose source file (``meta.file_path``) no longer exists; return how many."""
    gone = {d.meta.get("file_path") for d in store.filter_documents()
            if d.meta.get("file_path") and not Path(d.meta["file_path"]).exists()}
    return remove_file_passages(store, sorted(gone))


def document_stores(pipeline) -> list[tuple[str, Any]]:
    """``(component name, document store)`` for each component of the pipeline that reads a store."""
    found = []
    for name in pipeline.graph.nodes:
        component = pipeline.get_component(name)
        # Haystack's own components expose ``document_store``; the Elasticsearch integration's keep it private
        store = getattr(component, "document_store", None) or getattr(component, "_document_store", None)
        if store is not None:
            found.append((name, store))
    return found


def uses_memory_store(pipeline) -> bool:
    """Whether a component of the pipeline reads or writes an in-memory document store."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    return any(isinstance(store, InMemoryDocumentStore) for _, store in document_stores(pipeline))


def inject_store(pipeline, store) -> int:
    """Point every component that holds an in-memory document store at ``store``; return how many."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    count = 0
    for name, current in document_stores(pipeline):
        if isinstance(current, InMemoryDocumentStore):
            pipeline.get_component(name).document_store = store
            count += 1
    return count
