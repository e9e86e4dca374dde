"""Document stores the application works with: a persistent in-memory store (a JSON file) and Elasticsearch."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.settings import DEFAULT_MEMORY_INDEX as DEFAULT_INDEX
from spanbert_reader.app.settings import AppSettings


class StoreError(AppError, RuntimeError):
    """A document store cannot be used (unreachable server, missing index, empty store)."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where in-memory stores are saved: ``explicit`` (the settings' ``data_dir``), or the user's cache dir."""
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spanbert-reader")) / "stores"


def _check_index_name(index: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", index or ""):
        raise StoreError(f"Index name {index!r} is invalid: use letters, digits, '_', '-' and '.'.")
    return index


def memory_store_path(index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None) -> Path:
    """The file holding an in-memory index."""
    return data_dir(directory) / f"{_check_index_name(index)}.json"


def _data_dir_usable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"The data directory {folder} is a file, not a folder: pass --data-dir FOLDER (or set "
                         "SPANBERT_DATA_DIR).")


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
    import json

    from haystack import Document, default_from_dict
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.document_stores.types import DuplicatePolicy

    data = json.loads(path.read_text(encoding="utf-8"))
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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        store.save_to_disk(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "a+")
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
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


def check_elasticsearch(url: str, index: str | None = None, must_exist: bool = False,
                        api_key: str | None = None, timeout: float = 5.0) -> None:
    """Raise :class:`StoreError` when Elasticsearch at ``url`` is unreachable within ``timeout`` seconds (no
    retries), or, with ``must_exist``, when ``index`` is missing or empty."""
    import logging

    from spanbert_reader.extras import require

    Elasticsearch = require("elasticsearch", "Elasticsearch").Elasticsearch
    options = {"request_timeout": timeout, "max_retries": 0, "retry_on_timeout": False}
    if api_key:
        options["api_key"] = api_key
    transport_logger = logging.getLogger("elastic_transport")
    level = transport_logger.level
    transport_logger.setLevel(logging.CRITICAL)  # its retry warnings carry full tracebacks
    try:
        try:
            client = Elasticsearch(url, **options)
            client.info()
        except Exception as exc:  # bad URL, connection refused, DNS, TLS, auth ...
            raise StoreError(f"Elasticsearch at {url} is unreachable ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'no reply'}).") from exc
        if must_exist and index:
            hint = (f"run `spanbert-qa index PATH... --store elasticsearch --index {index}` first.")
            if not client.indices.exists(index=index):
                raise StoreError(f"Elasticsearch at {url} has no index '{index}': {hint}")
            if client.count(index=index)["count"] == 0:
                raise StoreError(f"The Elasticsearch index '{index}' at {url} is empty: {hint}")
    finally:
        transport_logger.setLevel(level)


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


def inject_store(pipeline, store) -> int:
    """Point every component that holds an in-memory document store at ``store``; return how many."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    count = 0
    for name, current in document_stores(pipeline):
        if isinstance(current, InMemoryDocumentStore):
            pipeline.get_component(name).document_store = store
            count += 1
    return count


def read_index_texts(settings: AppSettings) -> list[str]:
    """The non-empty texts of the settings' index (in memory or in Elasticsearch), e.g. to pre-train on."""
    if settings.store == "memory":
        documents = load_memory_store(settings.index_name, settings.data_dir, must_exist=True).filter_documents()
    else:
        from haystack_integrations.document_stores.elasticsearch import ElasticsearchDocumentStore

        check_elasticsearch(settings.elasticsearch_url, settings.index_name, must_exist=True,
                            api_key=settings.es_api_key)
        documents = ElasticsearchDocumentStore(hosts=settings.elasticsearch_url,
                                               index=settings.index_name).filter_documents()
    return [d.content for d in documents if d.content and d.content.strip()]


def check_elasticsearch_stores(pipeline, settings: AppSettings, require_documents: bool = False) -> None:
    """Check every Elasticsearch store the pipeline reads or writes (its own hosts and index), as
    :func:`check_elasticsearch` does."""
    checked = set()
    for _, store in document_stores(pipeline):
        if type(store).__name__ != "ElasticsearchDocumentStore":
            continue
        params = store.to_dict().get("init_parameters", {})
        hosts = params.get("hosts") or settings.elasticsearch_url
        url = hosts[0] if isinstance(hosts, list) else str(hosts)
        index = params.get("index")
        if (url, index) not in checked:
            check_elasticsearch(url, index, must_exist=require_documents, api_key=settings.es_api_key)
            checked.add((url, index))
