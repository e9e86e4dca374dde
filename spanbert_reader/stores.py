"""Document stores the CLI works with: a persistent in-memory store (a JSON file) and Elasticsearch."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_INDEX = "default"
DEFAULT_ES_URL = "http://localhost:9200"


class StoreError(RuntimeError):
    """A document store cannot be used (unreachable server, missing index, empty store)."""


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where in-memory stores are saved: ``explicit``, ``$SPANBERT_DATA_DIR``, or the user's cache dir."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SPANBERT_DATA_DIR"):
        return Path(os.environ["SPANBERT_DATA_DIR"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("spanbert-reader")) / "stores"


def _check_index_name(index: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", index or ""):
        raise StoreError(f"Index name {index!r} is invalid: use letters, digits, '_', '-' and '.'.")
    return index


def memory_store_path(index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None) -> Path:
    """The file holding an in-memory index."""
    return data_dir(directory) / f"{_check_index_name(index)}.json"


def load_memory_store(index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None,
                      must_exist: bool = True):
    """The in-memory store saved for ``index`` (a new empty one when ``must_exist`` is False)."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    path = memory_store_path(index, directory)
    if path.exists():
        store = InMemoryDocumentStore.load_from_disk(str(path))
        return store
    if must_exist:
        raise StoreError(f"No in-memory index '{index}' in {path.parent}: run `spanbert-qa index PATH...` first.")
    return InMemoryDocumentStore(index=index)


def has_embeddings(store) -> bool:
    """True when the in-memory store's documents carry embeddings (the index was built with ``--embed``)."""
    first = next(iter(store.storage.values()), None)
    return first is not None and first.embedding is not None


def save_memory_store(store, index: str = DEFAULT_INDEX, directory: str | os.PathLike | None = None) -> Path:
    """Persist an in-memory store so another process (``spanbert-qa ask``) can load it."""
    path = memory_store_path(index, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    store.save_to_disk(str(path))
    return path


def check_elasticsearch(url: str, index: str | None = None, must_exist: bool = False) -> None:
    """Raise :class:`StoreError` when Elasticsearch at ``url`` is unreachable (or the index is missing)."""
    from elasticsearch import Elasticsearch

    api_key = os.environ.get("ELASTIC_API_KEY")
    client = Elasticsearch(url, api_key=api_key, request_timeout=10) if api_key else \
        Elasticsearch(url, request_timeout=10)
    try:
        client.info()
    except Exception as exc:  # connection refused, DNS, TLS, auth ...
        raise StoreError(f"Elasticsearch at {url} is unreachable ({type(exc).__name__}: {exc}).") from exc
    if must_exist and index and not client.indices.exists(index=index):
        raise StoreError(f"Elasticsearch at {url} has no index '{index}': run `spanbert-qa index PATH... "
                         f"--store elasticsearch --index {index}` first.")
