"""Optional dependency groups ("extras") and the one-line error when one is missing.

The core install (``pip install spanbert-reader``) runs ``SpanBERTReader`` and the in-memory QA pipeline. The rest
comes with extras: ``elasticsearch``, ``embeddings`` (sentence-transformers), ``files`` (HTML/Markdown/PDF
converters for indexing), ``serve`` (FastAPI, uvicorn, offline API docs), ``mcp`` (the MCP endpoint), ``hayhooks``
(the Hayhooks wrapper), ``train`` (accelerate), ``eval`` (matplotlib) and ``all``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# top-level module -> the extra that installs it
EXTRA_OF = {
    "elasticsearch": "elasticsearch", "elastic_transport": "elasticsearch",
    "haystack_integrations.document_stores.elasticsearch": "elasticsearch",
    "haystack_integrations.components.retrievers.elasticsearch": "elasticsearch",
    "sentence_transformers": "embeddings", "haystack_integrations.components.embedders.sentence_transformers":
    "embeddings",
    "haystack.components.converters.html": "files", "haystack.components.converters.pypdf": "files",
    "haystack.components.converters.markdown": "files",
    "trafilatura": "files", "lxml_html_clean": "files", "markdown_it": "files", "mdit_plain": "files", "pypdf": "files",
    "uvicorn": "serve", "fastapi": "serve", "fastapi_offline": "serve", "mcp": "mcp", "hayhooks": "hayhooks",
    "accelerate": "train",
    "matplotlib": "eval",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def install_hint(module: str) -> str | None:
    """``pip install "spanbert-reader[extra]"`` for a module an extra provides, else None."""
    for name, extra in sorted(EXTRA_OF.items(), key=lambda item: -len(item[0])):
        if module == name or module.startswith(name + "."):
            return f'pip install "spanbert-reader[{extra}]"'
    return None


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying what needs it and which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = install_hint(module) or f"pip install {module.split('.')[0]}"
        raise MissingExtra(f"{purpose} needs {module.split('.')[0]}, which is not installed: {hint}") from exc
