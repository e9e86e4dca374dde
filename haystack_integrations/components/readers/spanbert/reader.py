"""``SpanBERTReader``: the Haystack component over :class:`spanbert_reader.inference.reader.SpanReader`. Its own
duties: TransformersExtractiveReader's parameter names, serialisation, Document checks and ``ExtractedAnswer``s."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from haystack import Document, ExtractedAnswer, component, default_from_dict, default_to_dict, logging
from haystack.utils import ComponentDevice, Secret, deserialize_secrets_inplace

from spanbert_reader.data.text import check_text
from spanbert_reader.inference.decoding import DecodeSettings
from spanbert_reader.inference.reader import ReaderAnswer, SpanReader
from spanbert_reader.inference.settings import RuntimeSettings, ScoringSettings, checked_int
from spanbert_reader.inference.windows import WindowSettings

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mrm8488/spanbert-finetuned-squadv2"
_PRECISION_OF_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "auto": "auto"}
_RUN_OVERRIDES = ("top_k", "score_threshold", "max_seq_length", "stride", "max_answer_length", "overlap_threshold",
                  "no_answer")


def _from_model_kwargs(kwargs: dict[str, Any], precision: str, device: ComponentDevice | None
                       ) -> tuple[str, ComponentDevice | None]:
    """Map TransformersExtractiveReader's ``model_kwargs`` onto this reader: ``dtype``/``torch_dtype`` to
    ``precision``, ``device_map`` (one device) to ``device``; anything else is ignored with one warning."""
    used = set()
    for key in ("dtype", "torch_dtype"):
        if key in kwargs:
            name = str(kwargs[key]).replace("torch.", "")
            if name not in _PRECISION_OF_DTYPE:
                raise ValueError(f"model_kwargs[{key!r}] = {kwargs[key]!r} is not supported; use float32, "
                                 "float16, bfloat16 or auto")
            precision = _PRECISION_OF_DTYPE[name] if precision == "auto" else precision
            used.add(key)
    target = kwargs.get("device_map")
    if isinstance(target, str) and target not in ("balanced", "sequential"):
        if target != "auto" and device is None:
            device = ComponentDevice.from_str(f"{target}:0" if target in ("cuda", "mps") else target)
        used.add("device_map")  # "auto" is the default device choice already
    ignored = sorted(set(kwargs) - used)
    if ignored:
        logger.warning("SpanBERTReader ignores model_kwargs {keys} (it loads its own model; only dtype/torch_dtype "
                       "and a single-device device_map have a meaning here)", keys=ignored)
    return precision, device


@component
class SpanBERTReader:
    """Extracts answers to a query from Documents with a span-prediction QA checkpoint; a drop-in replacement
    for ``TransformersExtractiveReader`` (same inputs and ``{"answers": [ExtractedAnswer, ...]}`` best first, same
    shared parameters, and its ``max_batch_size``/``answers_per_seq``/``model_kwargs``). What differs: exact
    decoding (every valid span, each start counted in the window where it has the most context), segment ids,
    packed length-sorted batches, the model's null logit for SQuAD 2.0 checkpoints, score fusion with
    ``Document.score``, run-time ``0``/``0.0`` honoured, and ``answer.score`` is the calibrated chance the answer
    is right (the no-answer's: 1 - the best answer's, first when below the abstain threshold; ``calibrate=False``
    gives TER's ``sigmoid(calibration_factor * fused_logit)``). ``answer.meta`` holds ``logit``, ``fused_logit``,
    ``uncalibrated_score``, ``retriever_score``, ``passage_rank`` (and ``aggregated``); see
    :mod:`~spanbert_reader.inference.ranking`. ``span_reader`` is the Haystack-free core (``SpanReader``).

    Parameters, by group (each group's class documents every value; all stay readable as attributes):

    - **the model**: ``model`` (folder or hub id), ``device``, ``token``, ``model_kwargs`` (TER's: ``dtype`` sets
      ``precision``, a single-device ``device_map`` sets ``device``);
    - **the answers** (TER's): ``top_k`` answers (plus the no-answer when ``no_answer``), ``score_threshold``;
    - **windows** (:class:`~spanbert_reader.inference.windows.WindowSettings`): ``max_seq_length``, ``stride``
      (tokens of overlap), ``max_query_length``;
    - **decoding** (:class:`~spanbert_reader.inference.decoding.DecodeSettings`): ``max_answer_length``,
      ``n_best_per_window`` (TER: ``answers_per_seq``), ``max_context_only``;
    - **scoring** (:class:`~spanbert_reader.inference.settings.ScoringSettings`; None = the checkpoint's
      ``fusion.json`` / ``null_threshold.json``, else defaults): ``calibrate``, ``no_answer_method``,
      ``null_threshold``, ``calibration_factor``, ``retriever_weight``, ``retriever_normalization``,
      ``aggregate_answers``, ``fusion_profile``, ``overlap_threshold``;
    - **runtime** (:class:`~spanbert_reader.inference.settings.RuntimeSettings`): ``batch_size`` (TER:
      ``max_batch_size``), ``max_tokens_per_batch``, ``precision``, ``use_token_type_ids``, ``packed``, ``compile``,
      ``cpu_workers``; **request limits**: ``max_documents``, ``max_document_chars`` (a ValueError past them).
    Usage (README, "Use the reader"): ``SpanBERTReader(model=...).run(query=..., documents=[...])["answers"]``.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, device: ComponentDevice | None = None,
                 token: Secret | None = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False),
                 top_k: int = 20, score_threshold: float | None = None, max_seq_length: int = 384,
                 stride: int = 128, max_query_length: int = 64, max_answer_length: int | None = 30,
                 n_best_per_window: int = 20, max_context_only: bool = True, no_answer: bool = True,
                 no_answer_method: str = "auto", null_threshold: float | None = None,
                 calibration_factor: float = 0.1, retriever_weight: float | None = None,
                 retriever_normalization: str | None = None, aggregate_answers: bool | None = None,
                 fusion_profile: str | None = None, overlap_threshold: float | None = 0.01, batch_size: int = 32,
                 max_tokens_per_batch: int | None = None, precision: str = "auto", use_token_type_ids: bool = True,
                 max_documents: int | None = None, max_document_chars: int | None = None, packed: bool = True,
                 compile: bool = False, max_batch_size: int | None = None, answers_per_seq: int | None = None,
                 model_kwargs: dict[str, Any] | None = None, calibrate: bool = True, cpu_workers: int | None = None
                 ) -> None:
        for name, value in (("max_batch_size", max_batch_size), ("answers_per_seq", answers_per_seq),
                            ("max_documents", max_documents), ("max_document_chars", max_document_chars)):
            checked_int(name, value, 1, allow_none=True)
        checked_int("top_k", top_k, 0)
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise TypeError(f"model_kwargs must be a dict or None, got {type(model_kwargs).__name__}")
        precision, device = _from_model_kwargs(model_kwargs or {}, precision, device)
        self.top_k, self.score_threshold, self.no_answer = top_k, score_threshold, no_answer
        self.max_documents, self.max_document_chars = max_documents, max_document_chars
        self.max_batch_size, self.answers_per_seq = max_batch_size, answers_per_seq  # TER's names, serialised back
        self.model_kwargs, self.token, self._device_given = dict(model_kwargs) if model_kwargs else None, token, device
        self.device = ComponentDevice.resolve_device(device)
        self.span_reader = SpanReader(
            model, device=self.device.to_torch_str(), token=token.resolve_value() if token else None,
            windows=WindowSettings(max_seq_length, stride, max_query_length),
            decode=DecodeSettings(answers_per_seq or n_best_per_window, max_answer_length, max_context_only),
            runtime=RuntimeSettings(max_batch_size or batch_size, max_tokens_per_batch, precision, use_token_type_ids,
                                    packed, compile, cpu_workers),
            scoring=ScoringSettings(no_answer_method, null_threshold, calibration_factor, retriever_weight,
                                    retriever_normalization, aggregate_answers, fusion_profile, overlap_threshold,
                                    calibrate))

    @property
    def model(self) -> str:
        """The checkpoint (folder or hub id); settable until the model is loaded (the CLI's demo fallback)."""
        return self.span_reader.model_name

    @model.setter
    def model(self, value: str | Path) -> None:
        if self.span_reader.loaded:
            raise RuntimeError("SpanBERTReader.model cannot change once the model is loaded")
        self.span_reader = self.span_reader.with_model(value)

    def __getattr__(self, name: str) -> Any:  # every init parameter stays readable (reader.fusion_profile, ...)
        groups = self.__dict__.get("span_reader")
        for group in () if groups is None else (groups.windows, groups.decode, groups.runtime, groups.scoring):
            if name in group.__dataclass_fields__:
                return getattr(group, name)
        raise AttributeError(f"'SpanBERTReader' object has no attribute {name!r}")

    def _get_telemetry_data(self) -> dict[str, Any]:  # what Haystack's telemetry (when on) records: the model
        return {"model": self.model}

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (secrets as references, never their values)."""
        r, kwargs = self.span_reader, {k: str(v).replace("torch.", "") if "dtype" in k else v
                                      for k, v in (self.model_kwargs or {}).items()} or None
        return default_to_dict(
            self, model=self.model, device=self._device_given.to_dict() if self._device_given else None,
            token=self.token.to_dict() if self.token else None, top_k=self.top_k,
            score_threshold=self.score_threshold, **asdict(r.windows), **asdict(r.decode), no_answer=self.no_answer,
            **asdict(r.scoring), **asdict(r.runtime), max_documents=self.max_documents,
            max_document_chars=self.max_document_chars, max_batch_size=self.max_batch_size,
            answers_per_seq=self.answers_per_seq, model_kwargs=kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanBERTReader:
        """Deserialise a component written by :meth:`to_dict`."""
        params = dict(data.get("init_parameters", {}))  # never mutate the caller's
        data = {**data, "init_parameters": params}
        if params.get("device") is not None:
            params["device"] = ComponentDevice.from_dict(params["device"])
        deserialize_secrets_inplace(params, keys=["token"])
        return default_from_dict(cls, data)

    def warm_up(self) -> None:
        """Load the model and tokenizer, and resolve the scoring settings from the checkpoint's files."""
        self.span_reader.load()

    def _usable(self, query: Any, documents: Any) -> list[Document]:
        """The documents with text, after checking the request; documents without text are skipped (warned)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        check_text(query, "query")
        if not isinstance(documents, list | tuple):
            raise TypeError(f"documents must be a list of haystack.Document, got {type(documents).__name__}")
        if self.max_documents is not None and len(documents) > self.max_documents:
            raise ValueError(f"got {len(documents)} documents; this reader accepts at most {self.max_documents} "
                             "(max_documents)")
        usable, skipped = [], []
        for index, doc in enumerate(documents):
            if not isinstance(doc, Document):
                raise TypeError(f"documents[{index}] must be a haystack.Document, got {type(doc).__name__}")
            if doc.content is not None and not isinstance(doc.content, str):
                raise TypeError(f"documents[{index}].content must be a str or None, got {type(doc.content).__name__}")
            if doc.content is None or not doc.content.strip():
                skipped.append(doc.id)
            elif self.max_document_chars is not None and len(doc.content) > self.max_document_chars:
                raise ValueError(f"documents[{index}] (id {doc.id}) has {len(doc.content)} characters; this reader "
                                 f"accepts at most {self.max_document_chars} (max_document_chars)")
            else:
                usable.append(doc)
        if skipped:
            logger.warning("SpanBERTReader skipped {count} document(s) without text: ids {ids}", count=len(skipped),
                           ids=", ".join(skipped))
        return usable

    @staticmethod
    def _extracted(query: str, documents: list[Document], answer: ReaderAnswer) -> ExtractedAnswer:
        if answer.is_no_answer:  # data and document None, as TransformersExtractiveReader's no-answer
            return ExtractedAnswer(query=query, score=answer.score, data=None, document=None, meta=answer.meta)
        document = documents[answer.passage]
        meta = {**answer.meta, "retriever_score": document.score}
        page = document.meta.get("page_number")
        if isinstance(page, int):
            meta["answer_page_number"] = page + document.content.count("\f", 0, answer.start)
        return ExtractedAnswer(query=query, score=answer.score, data=answer.text, document=document,
                               document_offset=ExtractedAnswer.Span(answer.start, answer.end), meta=meta)

    def _answer(self, queries: Any, documents: Any, overrides: dict[str, Any], progress=None
                ) -> list[list[ExtractedAnswer]]:
        """The one run path: check, read through the core, convert (run-time values win when not None)."""
        if not isinstance(queries, list | tuple) or not isinstance(documents, list | tuple):
            raise TypeError("run_batch takes a list of queries and a list of document lists")
        if len(queries) != len(documents):
            raise ValueError(f"got {len(queries)} queries but {len(documents)} document lists")
        given = {k: v for k, v in overrides.items() if v is not None}
        usable = [self._usable(q, d) for q, d in zip(queries, documents, strict=True)]
        found = self.span_reader.answer(
            list(queries), [[d.content for d in docs] for docs in usable], [[d.score for d in docs] for docs in usable],
            top_k=given.get("top_k", self.top_k), score_threshold=given.get("score_threshold", self.score_threshold),
            no_answer=given.get("no_answer", self.no_answer), progress=progress,
            **{k: given[k] for k in _RUN_OVERRIDES[2:6] if k in given})
        return [[self._extracted(q, docs, a) for a in answers]
                for q, docs, answers in zip(queries, usable, found, strict=True)]

    @component.output_types(answers=list[ExtractedAnswer])
    def run(self, query: str, documents: list[Document], top_k: int | None = None,
            score_threshold: float | None = None, max_seq_length: int | None = None, stride: int | None = None,
            max_answer_length: int | None = None, no_answer: bool | None = None,
            overlap_threshold: float | None = None) -> dict[str, Any]:
        """``{"answers": [...]}`` to ``query`` from ``documents``, best first; run-time values win when not None."""
        values = locals()
        return {"answers": self._answer([query], [documents], {k: values[k] for k in _RUN_OVERRIDES})[0]}

    @component.output_types(answers=list[ExtractedAnswer])
    async def run_async(self, query: str, documents: list[Document], top_k: int | None = None,
                        score_threshold: float | None = None, max_seq_length: int | None = None,
                        stride: int | None = None, max_answer_length: int | None = None,
                        no_answer: bool | None = None, overlap_threshold: float | None = None) -> dict[str, Any]:
        """Like :meth:`run`, but tokenisation and the model run in a worker thread (the event loop stays free)."""
        values = locals()
        answers = await asyncio.to_thread(self._answer, [query], [documents], {k: values[k] for k in _RUN_OVERRIDES})
        return {"answers": answers[0]}

    def run_batch(self, queries: list[str], documents: list[list[Document]], top_k: int | None = None,
                  score_threshold: float | None = None, max_seq_length: int | None = None, stride: int | None = None,
                  max_answer_length: int | None = None, no_answer: bool | None = None,
                  overlap_threshold: float | None = None, progress=None) -> dict[str, list[list[ExtractedAnswer]]]:
        """Answer many queries, each from its own documents (sharing batches): ``{"answers": [answers of q0, ...]}``."""
        values = locals()
        return {"answers": self._answer(queries, documents, {k: values[k] for k in _RUN_OVERRIDES}, progress)}
