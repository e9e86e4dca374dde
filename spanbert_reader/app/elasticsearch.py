"""Elasticsearch checks: is the server there, does the index exist and hold documents, before any work."""

from __future__ import annotations

from spanbert_reader.app.settings import AppSettings, redact_url
from spanbert_reader.app.stores import StoreError, document_stores


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
            detail = str(exc).splitlines()[0] if str(exc) else "no reply"
            raise StoreError(f"Elasticsearch at {redact_url(url)} is unreachable ({type(exc).__name__}: "
                             f"{detail.replace(url, redact_url(url))}).") from None
        if must_exist and index:
            hint = (f"run `spanbert-qa index PATH... --store elasticsearch --index {index}` first.")
            if not client.indices.exists(index=index):
                raise StoreError(f"Elasticsearch at {redact_url(url)} has no index '{index}': {hint}")
            if client.count(index=index)["count"] == 0:
                raise StoreError(f"The Elasticsearch index '{index}' at {redact_url(url)} is empty: {hint}")
    finally:
        transport_logger.setLevel(level)


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


def elasticsearch_documents(settings: AppSettings) -> list:
    """Every document of the settings' Elasticsearch index (checked first)."""
    from haystack_integrations.document_stores.elasticsearch import ElasticsearchDocumentStore

    check_elasticsearch(settings.elasticsearch_url, settings.index_name, must_exist=True, api_key=settings.es_api_key)
    return ElasticsearchDocumentStore(hosts=settings.elasticsearch_url, index=settings.index_name).filter_documents()
