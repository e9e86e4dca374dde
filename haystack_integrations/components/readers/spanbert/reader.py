"""``SpanBERTReader``: the Haystack component. A thin layer over :mod:`spanbert_reader.inference`."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import torch
from haystack import Document, ExtractedAnswer, component, default_from_dict, default_to_dict, logging
from haystack.utils import ComponentDevice, Secret, deserialize_secrets_inplace

from spanbert_reader.inference.answers import (
    FusionSettings,
    check_fusion_profile,
    no_answer,
    read_null_threshold,
    span_probability,
    stored_fusion,
)
from spanbert_reader.inference.decoding import CharSpan, DecodeSettings
from spanbert_reader.inference.engine import ExtractiveQA, QueryPrediction
from spanbert_reader.inference.precision import resolve_precision
from spanbert_reader.inference.windows import WindowSettings

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mrm8488/spanbert-finetuned-squadv2"
_NO_ANSWER_METHODS = ("auto", "null_logit", "estimate")


def _checked_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}, got {value!r}")


_PRECISION_OF_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "auto": "auto"}


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
            if precision == "auto":
                precision = _PRECISION_OF_DTYPE[name]
            used.add(key)
    if "device_map" in kwargs:
        target = kwargs["device_map"]
        if isinstance(target, str) and target not in ("auto", "balanced", "sequential"):
            if device is None:
                device = ComponentDevice.from_str(f"{target}:0" if target in ("cuda", "mps") else target)
            used.add("device_map")
        elif target == "auto":
            used.add("device_map")  # the default device choice already does this
    ignored = sorted(set(kwargs) - used)
    if ignored:
        logger.warning("SpanBERTReader ignores model_kwargs {keys} (it loads its own model; only dtype/torch_dtype "
                       "and a single-device device_map have a meaning here)", keys=ignored)
    return precision, device


def _serialisable(kwargs: dict[str, Any] | None) -> dict[str, Any] | None:
    if not kwargs:
        return None
    return {k: (str(v).replace("torch.", "") if k in ("dtype", "torch_dtype") else v) for k, v in kwargs.items()}


@component
class SpanBERTReader:
    """Extracts answers to a query from Documents with an in-repo SpanBERT/BERT span model.

    A drop-in replacement for ``TransformersExtractiveReader``: same inputs, same ``{"answers": [...]}``
    output of ``ExtractedAnswer`` sorted by score, and the same meaning of the shared parameters. What differs:

    - decoding is exact: every valid span of at most ``max_answer_length`` tokens is scored (the best
      ``n_best_per_window`` kept), each start counted only in the window where it has the most context;
    - segment ids (query 0, passage 1) are passed to the model, as BERT QA models were fine-tuned with them;
    - windows of all documents are sorted by length and run packed (no compute on padding);
    - SQuAD 2.0 models answer "no answer" from their own null ([CLS]) logit (see ``no_answer_method``);
    - answers from different documents are ranked with the retriever's evidence too (score fusion, below);
    - run-time overrides of ``0`` / ``0.0`` are honoured (``TransformersExtractiveReader`` ignores them).

    Scores: ``sigmoid(calibration_factor * fused_logit)``, a probability in [0, 1], where ``fused_logit`` is
    the span's ``start_logit + end_logit`` minus ``retriever_weight * (1 - r)``, ``r`` being the document's
    retriever score (``Document.score``) normalised over the query's documents to [0, 1] (1 = best retrieved).
    Documents without a score get no bonus, so a reader used without a retriever ranks by its logits alone.
    ``answer.meta`` holds ``logit`` and ``reader_score`` (reader only), ``retriever_score`` (the raw
    ``Document.score``), ``fused_logit`` and ``passage_rank`` (1 for the first document given); with
    ``aggregate_answers`` also ``aggregated`` (how many spans with the same normalised text were merged into this
    answer). See :mod:`spanbert_reader.inference.answers`.

    Usage example:
    ```python
    from haystack import Document
    from spanbert_reader import SpanBERTReader

    reader = SpanBERTReader(model="mrm8488/spanbert-finetuned-squadv2")
    reader.warm_up()
    docs = [Document(content="SpanBERT was released by Facebook AI Research in 2019.")]
    answers = reader.run(query="Who released SpanBERT?", documents=docs)["answers"]
    print(answers[0].data)
    ```

    :param model: local checkpoint folder or Hugging Face hub id (BERT-format QA checkpoint).
    :param device: device to run on; defaults to the best available one.
    :param token: Hugging Face token for private hub models.
    :param top_k: answers to return per query (plus one no-answer when ``no_answer`` is True).
    :param score_threshold: drop answers scoring below this.
    :param max_seq_length: tokens per model window ([CLS] query [SEP] passage [SEP]).
    :param stride: tokens of **overlap** between consecutive windows of a long document (Haystack/HF meaning;
        SpanBERT's scripts use the step instead: step = window passage length - stride).
    :param max_query_length: query tokens kept; longer queries are truncated.
    :param max_answer_length: longest answer in tokens (None: no limit).
    :param n_best_per_window: best spans kept per window (every valid span is scored; this only bounds how many
        candidates each window contributes).
    :param max_context_only: count a start token only in the window where it has the most context (BERT's
        rule); False lets every overlapping window propose it, as TransformersExtractiveReader does.
    :param no_answer: add an answer with ``data=None`` whose score says how likely no span is right.
    :param no_answer_method: ``"null_logit"`` uses the model's [CLS] null score (SQuAD 2.0 models: the
        no-answer wins when ``null - best > null_threshold``); ``"estimate"`` is TransformersExtractiveReader's
        ``prod(1 - score)``; ``"auto"`` picks ``null_logit`` when the checkpoint was trained with unanswerable
        questions (a stored ``null_threshold.json``, a config flag ``trained_with_null``, or "squad2"/"squadv2"
        in its name) and ``estimate`` otherwise.
    :param null_threshold: threshold for ``null_logit``; None reads ``null_threshold.json`` from the
        checkpoint folder, else 0.0.
    :param calibration_factor: scale applied to logits before the sigmoid.
    :param retriever_weight: logit units an answer loses from the best-retrieved document to the worst one
        (0 = rank by the reader alone). None: the value stored beside the checkpoint in ``fusion.json`` (written
        by ``spanbert-qa eval --tune-fusion``), else the built-in default measured with BM25.
    :param retriever_normalization: how ``Document.score`` is mapped to [0, 1] per query: ``"minmax"``,
        ``"max"``, ``"rank"`` or ``"raw"`` (None: stored value, else ``"minmax"``).
    :param aggregate_answers: merge answers with the same normalised text (their probabilities add up); None:
        stored value, else off.
    :param fusion_profile: which tuned entry of ``fusion.json`` fills the fusion values left None: None is the
        main entry (tuned with BM25); a name such as ``"hybrid"`` (set by the bundled hybrid pipelines) picks
        that profile's entry, else its built-in default, else the main entry. Retrievers shape their scores
        differently (reciprocal rank fusion spreads them evenly), so each retrieval setup is tuned on its own.
    :param overlap_threshold: drop an answer overlapping a better one of the same document by more than this
        fraction of either's length (None keeps all).
    :param batch_size: windows per forward pass.
    :param max_tokens_per_batch: optional padded-token budget per forward pass (for long documents on GPUs).
    :param precision: ``"auto"`` (bf16 on GPUs that support it, else fp16; fp32 on CPU), ``"fp32"``,
        ``"fp16"`` or ``"bf16"``.
    :param use_token_type_ids: pass segment ids; set False only to reproduce readers that omit them.
    :param max_documents: refuse requests with more documents than this (None: no limit).
    :param max_document_chars: refuse documents longer than this many characters (None: no limit).
    :param packed: run each batch's windows concatenated without padding (dense layers on real tokens only,
        attention per window; variable-length flash attention on GPUs). False pads each batch to its longest
        window instead. Both give the same answers within float tolerance.
    :param max_batch_size: TransformersExtractiveReader's name for ``batch_size`` (wins when given).
    :param answers_per_seq: TransformersExtractiveReader's name for ``n_best_per_window`` (wins when given).
    :param model_kwargs: TransformersExtractiveReader's model options: ``dtype``/``torch_dtype`` set
        ``precision`` (when it is ``"auto"``), a single-device ``device_map`` sets ``device`` (when not given);
        other keys are ignored with a warning. With these three, a TransformersExtractiveReader pipeline YAML
        loads unchanged after its type is swapped.
    :param compile: run the model through ``torch.compile`` (experimental, off by default): batches are padded
        to multiples of 64 tokens so few shapes are compiled; the first batches of each shape are slow.
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        device: ComponentDevice | None = None,
        token: Secret | None = Secret.from_env_var(["HF_API_TOKEN", "HF_TOKEN"], strict=False),
        top_k: int = 20,
        score_threshold: float | None = None,
        max_seq_length: int = 384,
        stride: int = 128,
        max_query_length: int = 64,
        max_answer_length: int | None = 30,
        n_best_per_window: int = 20,
        max_context_only: bool = True,
        no_answer: bool = True,
        no_answer_method: str = "auto",
        null_threshold: float | None = None,
        calibration_factor: float = 0.1,
        retriever_weight: float | None = None,
        retriever_normalization: str | None = None,
        aggregate_answers: bool | None = None,
        fusion_profile: str | None = None,
        overlap_threshold: float | None = 0.01,
        batch_size: int = 32,
        max_tokens_per_batch: int | None = None,
        precision: str = "auto",
        use_token_type_ids: bool = True,
        max_documents: int | None = None,
        max_document_chars: int | None = None,
        packed: bool = True,
        compile: bool = False,
        max_batch_size: int | None = None,
        answers_per_seq: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _checked_int("max_batch_size", max_batch_size, 1, allow_none=True)
        _checked_int("answers_per_seq", answers_per_seq, 1, allow_none=True)
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise TypeError(f"model_kwargs must be a dict or None, got {type(model_kwargs).__name__}")
        # TransformersExtractiveReader's names for what this reader calls batch_size / n_best_per_window
        if max_batch_size is not None:
            batch_size = max_batch_size
        if answers_per_seq is not None:
            n_best_per_window = answers_per_seq
        precision, device = _from_model_kwargs(model_kwargs or {}, precision, device)
        _checked_int("top_k", top_k, 0)
        _checked_int("batch_size", batch_size, 1)
        _checked_int("max_tokens_per_batch", max_tokens_per_batch, 1, allow_none=True)
        _checked_int("max_documents", max_documents, 1, allow_none=True)
        _checked_int("max_document_chars", max_document_chars, 1, allow_none=True)
        if no_answer_method not in _NO_ANSWER_METHODS:
            raise ValueError(f"no_answer_method must be one of {_NO_ANSWER_METHODS}, got {no_answer_method!r}")
        if precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32', 'fp16' or 'bf16', got {precision!r}")
        # validate what was given now (a bad YAML value fails at load, not at the first question)
        FusionSettings(retriever_weight=0.0 if retriever_weight is None else retriever_weight,
                       normalization=retriever_normalization or "minmax",
                       aggregate=False if aggregate_answers is None else aggregate_answers)
        check_fusion_profile(fusion_profile)
        if overlap_threshold is not None and not 0 <= overlap_threshold <= 1:
            raise ValueError(f"overlap_threshold must be in [0, 1] or None, got {overlap_threshold!r}")
        self.windows = WindowSettings(max_seq_length=max_seq_length, stride=stride,
                                      max_query_length=max_query_length)
        self.decode = DecodeSettings(n_best_per_window=n_best_per_window, max_answer_length=max_answer_length,
                                     max_context_only=max_context_only)
        self.model = str(model)
        self.device = ComponentDevice.resolve_device(device)
        self._device_given = device
        self.token = token
        self.top_k = top_k
        self.score_threshold = score_threshold
        self.max_seq_length = max_seq_length
        self.stride = stride
        self.max_query_length = max_query_length
        self.max_answer_length = max_answer_length
        self.n_best_per_window = n_best_per_window
        self.max_context_only = max_context_only
        self.no_answer = no_answer
        self.no_answer_method = no_answer_method
        self.null_threshold = null_threshold
        self.calibration_factor = calibration_factor
        self.retriever_weight = retriever_weight
        self.retriever_normalization = retriever_normalization
        self.aggregate_answers = aggregate_answers
        self.fusion_profile = fusion_profile
        self.overlap_threshold = overlap_threshold
        self.batch_size = batch_size
        self.max_tokens_per_batch = max_tokens_per_batch
        self.precision = precision
        self.use_token_type_ids = use_token_type_ids
        self.max_documents = max_documents
        self.max_document_chars = max_document_chars
        self.packed = packed
        self.compile = compile
        self.max_batch_size = max_batch_size
        self.answers_per_seq = answers_per_seq
        self.model_kwargs = dict(model_kwargs) if model_kwargs else None
        self._warm_lock = threading.Lock()
        self._engine: ExtractiveQA | None = None
        self._resolved_null_method = "estimate"
        self._resolved_null_threshold = 0.0 if null_threshold is None else float(null_threshold)
        self._fusion: FusionSettings | None = None

    # ----------------------------------------------------------------- serialisation
    def _get_telemetry_data(self) -> dict[str, Any]:
        """What Haystack's telemetry (when the user has it on) records about this component: the model."""
        return {"model": self.model}

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component (secrets as references, never their values)."""
        return default_to_dict(
            self,
            model=self.model,
            device=self._device_given.to_dict() if self._device_given else None,
            token=self.token.to_dict() if self.token else None,
            top_k=self.top_k,
            score_threshold=self.score_threshold,
            max_seq_length=self.max_seq_length,
            stride=self.stride,
            max_query_length=self.max_query_length,
            max_answer_length=self.max_answer_length,
            n_best_per_window=self.n_best_per_window,
            max_context_only=self.max_context_only,
            no_answer=self.no_answer,
            no_answer_method=self.no_answer_method,
            null_threshold=self.null_threshold,
            calibration_factor=self.calibration_factor,
            retriever_weight=self.retriever_weight,
            retriever_normalization=self.retriever_normalization,
            aggregate_answers=self.aggregate_answers,
            fusion_profile=self.fusion_profile,
            overlap_threshold=self.overlap_threshold,
            batch_size=self.batch_size,
            max_tokens_per_batch=self.max_tokens_per_batch,
            precision=self.precision,
            use_token_type_ids=self.use_token_type_ids,
            max_documents=self.max_documents,
            max_document_chars=self.max_document_chars,
            packed=self.packed,
            compile=self.compile,
            max_batch_size=self.max_batch_size,
            answers_per_seq=self.answers_per_seq,
            model_kwargs=_serialisable(self.model_kwargs),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanBERTReader:
        """Deserialise a component written by :meth:`to_dict`."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}  # never mutate the caller's
        params = data["init_parameters"]
        if params.get("device") is not None:
            params["device"] = ComponentDevice.from_dict(params["device"])
        deserialize_secrets_inplace(params, keys=["token"])
        return default_from_dict(cls, data)

    # ----------------------------------------------------------------- loading
    def warm_up(self) -> None:
        """Load the model and tokenizer (once, also when called from several threads); resolve precision and the
        no-answer method."""
        if self._engine is not None:
            return
        with self._warm_lock:
            if self._engine is None:
                self._load()

    def _load(self) -> None:
        from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_qa_model, load_tokenizer
        from spanbert_reader.modeling.checkpoint import resolve_checkpoint

        token = self.token.resolve_value() if self.token else None
        folder = resolve_checkpoint(self.model, token=token)
        model = load_qa_model(str(folder), require_qa_head=True)  # in-repo SpanBERT, or transformers for others
        tokenizer = load_tokenizer(str(folder))
        torch_device = self.device.to_torch()
        dtype = resolve_precision(self.precision, torch_device)
        model.to(device=torch_device, dtype=dtype).eval()
        if isinstance(model, SpanBertForQuestionAnswering):
            model.qa_outputs.to(torch_device, torch.float32)  # the span head stays fp32: its logits are ranked
        self._resolve_no_answer(folder, model.config.extra)
        self._fusion = self._resolve_fusion(folder)
        runnable = model
        if self.compile:
            runnable = torch.compile(model)
        self._engine = ExtractiveQA(
            runnable, tokenizer, torch_device, windows=self.windows, decode=self.decode, batch_size=self.batch_size,
            max_tokens_per_batch=self.max_tokens_per_batch, use_token_type_ids=self.use_token_type_ids,
            packed=self.packed and not self.compile and hasattr(model, "forward_packed"),
            pad_to_multiple=64 if self.compile else None,
        )
        self._engine.model = model  # the plain module (checkpoint folder, config) for callers
        logger.info("SpanBERTReader loaded {model} on {device} ({dtype}), no-answer method {method}, null threshold "
                    "{threshold:.3f}, fusion {fusion}", model=self.model, device=str(torch_device), dtype=str(dtype),
                    method=self._resolved_null_method, threshold=self._resolved_null_threshold,
                    fusion=str(self._fusion))

    def _resolve_fusion(self, folder: Path) -> FusionSettings:
        stored = stored_fusion(folder, self.fusion_profile)
        return FusionSettings(
            retriever_weight=stored.retriever_weight if self.retriever_weight is None else float(self.retriever_weight),
            normalization=self.retriever_normalization or stored.normalization,
            aggregate=stored.aggregate if self.aggregate_answers is None else self.aggregate_answers,
        )

    @property
    def fusion(self) -> FusionSettings:
        """The fusion settings in force (init values, else the checkpoint's ``fusion.json``, else the default)."""
        self.warm_up()
        assert self._fusion is not None
        return self._fusion

    @fusion.setter
    def fusion(self, value: FusionSettings) -> None:
        self.warm_up()  # loaded first, so warm-up cannot replace the value set here
        self._fusion = value

    def _resolve_no_answer(self, folder: Path, config_extra: dict[str, Any]) -> None:
        stored = read_null_threshold(folder)
        if self.null_threshold is not None:
            self._resolved_null_threshold = float(self.null_threshold)
        elif stored is not None:
            self._resolved_null_threshold = stored
        if self.no_answer_method != "auto":
            self._resolved_null_method = self.no_answer_method
            return
        name = self.model.lower().replace("-", "").replace("_", "")
        trained_with_null = (
            stored is not None or bool(config_extra.get("trained_with_null"))
            or "squad2" in name or "squadv2" in name
        )
        self._resolved_null_method = "null_logit" if trained_with_null else "estimate"

    @property
    def engine(self) -> ExtractiveQA:
        """The inference core (loaded on first use)."""
        self.warm_up()
        assert self._engine is not None
        return self._engine

    @property
    def checkpoint_folder(self) -> Path | None:
        """The local folder of the loaded checkpoint."""
        return getattr(self.engine.model, "checkpoint_folder", None)

    # ----------------------------------------------------------------- running
    def _validate(self, query: Any, documents: Any) -> list[Document]:
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, got {type(query).__name__}")
        if not query.strip():
            raise ValueError("query is empty or whitespace; pass the question to answer")
        try:
            query.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"query is not valid Unicode text (a lone surrogate at position {exc.start}); pass "
                             "UTF-8 text") from None
        if not isinstance(documents, list | tuple):
            raise TypeError(f"documents must be a list of haystack.Document, got {type(documents).__name__}")
        if self.max_documents is not None and len(documents) > self.max_documents:
            raise ValueError(f"got {len(documents)} documents; this reader accepts at most {self.max_documents} "
                             "(max_documents)")
        usable: list[Document] = []
        skipped: list[str] = []
        for index, doc in enumerate(documents):
            if not isinstance(doc, Document):
                raise TypeError(f"documents[{index}] must be a haystack.Document, got {type(doc).__name__}")
            content = doc.content
            if content is not None and not isinstance(content, str):
                raise TypeError(f"documents[{index}].content must be a str or None, got {type(content).__name__}")
            if content is None or not content.strip():
                skipped.append(doc.id)
                continue
            if self.max_document_chars is not None and len(content) > self.max_document_chars:
                raise ValueError(f"documents[{index}] (id {doc.id}) has {len(content)} characters; this reader "
                                 f"accepts at most {self.max_document_chars} (max_document_chars)")
            usable.append(doc)
        if skipped:
            logger.warning("SpanBERTReader skipped {count} document(s) without text: ids {ids}", count=len(skipped),
                           ids=", ".join(skipped))
        return usable

    def build_answers(self, query: str, documents: list[Document], prediction: QueryPrediction, top_k: int,
                      score_threshold: float | None = None, no_answer: bool = True) -> list[ExtractedAnswer]:
        """Turn an inference-core prediction over ``documents`` (spans already ranked) into sorted
        ``ExtractedAnswer`` objects (used by ``run`` and by evaluation, so both apply the same scoring and
        no-answer rule)."""
        self.warm_up()
        answers = [self._answer(query, documents[span.passage], span) for span in prediction.spans[:top_k]]
        if no_answer:
            verdict = self._no_answer_verdict(prediction, [a.score for a in answers])
            answers.append(ExtractedAnswer(query=query, score=verdict.score, data=None, document=None,
                                           meta=verdict.meta))
            answers.sort(key=lambda a: a.score, reverse=True)
        if score_threshold is not None:
            answers = [a for a in answers if a.score >= score_threshold]
        return answers

    def _no_answer_verdict(self, prediction: QueryPrediction, answer_scores: list[float]):
        return no_answer(self._resolved_null_method, prediction.null_logit, prediction.best_logit,
                         self._resolved_null_threshold, self.calibration_factor, answer_scores)

    def _answer(self, query: str, document: Document, span: CharSpan) -> ExtractedAnswer:
        meta: dict[str, Any] = {"logit": span.logit,
                                "reader_score": span_probability(span.logit, self.calibration_factor),
                                "retriever_score": document.score, "fused_logit": span.score,
                                "passage_rank": span.passage + 1}
        if span.count > 1:
            meta["aggregated"] = span.count
        page = document.meta.get("page_number")
        if isinstance(page, int):
            meta["answer_page_number"] = page + document.content.count("\f", 0, span.start)
        return ExtractedAnswer(
            query=query,
            score=span_probability(span.score, self.calibration_factor),
            data=document.content[span.start: span.end],
            document=document,
            document_offset=ExtractedAnswer.Span(span.start, span.end),
            meta=meta,
        )

    def _settings(self, max_seq_length: int | None, stride: int | None, max_answer_length: int | None
                  ) -> tuple[WindowSettings, DecodeSettings]:
        windows = self.windows
        if max_seq_length is not None or stride is not None:
            windows = WindowSettings(
                max_seq_length=self.max_seq_length if max_seq_length is None else max_seq_length,
                stride=self.stride if stride is None else stride,
                max_query_length=self.max_query_length,
            )
        decode = self.decode
        if max_answer_length is not None:
            decode = DecodeSettings(self.n_best_per_window, max_answer_length, self.max_context_only)
        return windows, decode

    @component.output_types(answers=list[ExtractedAnswer])
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
        max_seq_length: int | None = None,
        stride: int | None = None,
        max_answer_length: int | None = None,
        no_answer: bool | None = None,
        overlap_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Answer ``query`` from ``documents``.

        Run-time values override the init values when not None (``0`` and ``0.0`` are honoured).

        :returns: ``{"answers": list[ExtractedAnswer]}`` sorted by score, best first; the no-answer (if
            enabled) has ``data=None`` and ``document=None``.
        """
        answers = self.run_batch(
            queries=[query], documents=[documents], top_k=top_k, score_threshold=score_threshold,
            max_seq_length=max_seq_length, stride=stride, max_answer_length=max_answer_length,
            no_answer=no_answer, overlap_threshold=overlap_threshold,
        )["answers"]
        return {"answers": answers[0]}

    @component.output_types(answers=list[ExtractedAnswer])
    async def run_async(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        score_threshold: float | None = None,
        max_seq_length: int | None = None,
        stride: int | None = None,
        max_answer_length: int | None = None,
        no_answer: bool | None = None,
        overlap_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Like :meth:`run`, but tokenisation and the model run in a worker thread (the event loop stays free)."""
        return await asyncio.to_thread(
            self.run, query=query, documents=documents, top_k=top_k, score_threshold=score_threshold,
            max_seq_length=max_seq_length, stride=stride, max_answer_length=max_answer_length,
            no_answer=no_answer, overlap_threshold=overlap_threshold,
        )

    def run_batch(
        self,
        queries: list[str],
        documents: list[list[Document]],
        top_k: int | None = None,
        score_threshold: float | None = None,
        max_seq_length: int | None = None,
        stride: int | None = None,
        max_answer_length: int | None = None,
        no_answer: bool | None = None,
        overlap_threshold: float | None = None,
        progress=None,
    ) -> dict[str, list[list[ExtractedAnswer]]]:
        """Answer many queries, each from its own documents; windows of all queries share batches.

        :returns: ``{"answers": [answers of queries[0], answers of queries[1], ...]}``.
        """
        if not isinstance(queries, list | tuple) or not isinstance(documents, list | tuple):
            raise TypeError("run_batch takes a list of queries and a list of document lists")
        if len(queries) != len(documents):
            raise ValueError(f"got {len(queries)} queries but {len(documents)} document lists")
        top_k = self.top_k if top_k is None else top_k
        _checked_int("top_k", top_k, 0)
        score_threshold = self.score_threshold if score_threshold is None else score_threshold
        no_answer = self.no_answer if no_answer is None else no_answer
        overlap_threshold = self.overlap_threshold if overlap_threshold is None else overlap_threshold
        windows, decode = self._settings(max_seq_length, stride, max_answer_length)
        usable = [self._validate(q, d) for q, d in zip(queries, documents, strict=True)]
        self.warm_up()
        assert self._engine is not None
        predictions = self._engine.predict(
            list(queries), [[d.content for d in docs] for docs in usable], top_k=top_k,
            overlap_threshold=overlap_threshold, windows=windows, decode=decode, progress=progress,
            retriever_scores=[[d.score for d in docs] for docs in usable], fusion=self._fusion,
        )
        return {"answers": [
            self.build_answers(q, docs, prediction, top_k, score_threshold, no_answer)
            for q, docs, prediction in zip(queries, usable, predictions, strict=True)
        ]}
