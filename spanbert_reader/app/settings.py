"""One place for the application's settings and their defaults.

Commands (``ask``, ``eval``, ``index``, ``serve``) build an :class:`AppSettings` from their arguments with
:meth:`AppSettings.from_env` filling what was not given from the environment, once, at the edge (the other edge
is the Hayhooks wrapper, which Hayhooks starts with no arguments: it reads its ``SPANBERT_SERVE_*`` variables the
same way). Everything below (stores, the QA builder, the server) receives the settings explicitly; the one other
reader of the environment is a pipeline YAML's own ``${VAR}``, which falls back to it by design
(:func:`spanbert_reader.app.pipelines.substitute`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

StoreKind = Literal["memory", "elasticsearch"]

DEFAULT_MEMORY_INDEX = "default"
DEFAULT_ES_INDEX = "spanbert"
DEFAULT_ES_URL = "http://localhost:9200"
DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEMO_MODEL_NAME = "minilm-squad-demo"
DEFAULT_TOP_K = 3  # answers shown (ask, serve, the question page; the YAMLs' ${READER_TOP_K:-3})
DEFAULT_RETRIEVER_TOP_K = 10  # passages the retriever hands the reader (the YAMLs' ${RETRIEVER_TOP_K:-10})
DEFAULT_EVAL_KS = (1, 5, 10, 20)  # eval's --retriever-top-k
DEFAULT_MAX_BODY_BYTES = 64 * 1024  # serve's --max-body-bytes
# the reader's precisions (SpanBERTReader's ``precision``; the same tuple as inference.settings.PRECISIONS, kept
# here so that the CLI parser and --help need no torch)
READER_PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")

# environment variable -> settings field (read once by ``from_env``)
ENVIRONMENT = {"SPANBERT_MODEL": "model", "SPANBERT_DATA_DIR": "data_dir", "ELASTICSEARCH_URL": "es_url",
               "ELASTIC_API_KEY": "es_api_key", "EMBEDDING_MODEL": "embedding_model",
               "SPANBERT_PRECISION": "precision"}


@dataclass(frozen=True)
class AppSettings:
    """What a command needs to reach a store and answer questions.

    ``None`` means "the default": ``index`` is ``default`` in memory and ``spanbert`` in Elasticsearch;
    ``pipeline`` is chosen from the store (and, in memory, from whether the index holds embeddings);
    ``model`` is the hub SpanBERT SQuAD 2.0 reader, with the bundled demo reader as offline fallback;
    ``precision`` is the reader's (:data:`READER_PRECISIONS`; the bundled pipelines' default is ``auto``: fp32 on
    CPU, bf16 or fp16 on GPUs).
    """

    store: StoreKind = "memory"
    index: str | None = None
    data_dir: str | None = None
    es_url: str | None = None
    es_api_key: str | None = field(default=None, repr=False)
    embedding_model: str | None = None
    pipeline: str | None = None
    model: str | None = None
    precision: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # further ${VAR} values for the pipeline YAML

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> AppSettings:
        """Settings from ``given`` (``None`` values ignored), then the environment, then the defaults."""
        environ = os.environ if environ is None else environ
        values = {name: value for name, value in given.items() if value is not None}
        for variable, name in ENVIRONMENT.items():
            if name not in values and environ.get(variable):
                values[name] = environ[variable]
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def __post_init__(self) -> None:
        if self.precision is not None and self.precision not in READER_PRECISIONS:
            from spanbert_reader.app.errors import AppError

            raise AppError(f"precision (--precision or SPANBERT_PRECISION) must be one of "
                           f"{', '.join(READER_PRECISIONS)}; got {self.precision!r}.")

    def with_(self, **changes: Any) -> AppSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def index_name(self) -> str:
        """The index to read or write."""
        return self.index or (DEFAULT_ES_INDEX if self.store == "elasticsearch" else DEFAULT_MEMORY_INDEX)

    @property
    def elasticsearch_url(self) -> str:
        """The Elasticsearch server to use."""
        return self.es_url or DEFAULT_ES_URL

    @property
    def reader_model(self) -> str:
        """The reader checkpoint to load (the user's, else the default hub model)."""
        from haystack_integrations.components.readers.spanbert.reader import DEFAULT_MODEL

        return self.model or DEFAULT_MODEL

    def overrides(self, **extra: Any) -> dict[str, Any]:
        """``${VAR}`` values for the bundled pipeline YAMLs."""
        values: dict[str, Any] = {
            "ELASTICSEARCH_URL": self.elasticsearch_url, "INDEX": self.index_name,
            "EMBEDDING_MODEL": self.embedding_model or DEFAULT_EMBEDDING_MODEL, "SPANBERT_MODEL": self.reader_model,
        }  # how many answers and passages: run inputs (app.qa.question_inputs), not YAML values
        if self.precision is not None:
            values["READER_PRECISION"] = self.precision
        values.update(self.extra)
        values.update(extra)
        return values


def redact_url(url: str) -> str:
    """``url`` with any password (``user:password@``) replaced by ``***``, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}"))


def demo_model_path() -> Path | None:
    """The bundled demo reader (all-MiniLM-L6-v2 fine-tuned on SQuAD 1.1 data), if this install has it."""
    from importlib.resources import files

    path = Path(str(files("spanbert_reader.models"))) / DEMO_MODEL_NAME
    if (path / "model.safetensors").exists() and (path / "config.json").exists():
        return path
    return None
