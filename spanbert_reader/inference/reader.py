"""``SpanReader``: the Haystack-free reader. It loads a checkpoint, resolves the scoring settings from the files
beside it (fusion, no-answer threshold), and turns (query, passages) into ranked :class:`ReaderAnswer` objects.

The Haystack component, evaluation, training's dev evaluation and the server all read through it::

    reader = SpanReader("path/to/qa-model")
    answers = reader.answer(["Who released SpanBERT?"], [["SpanBERT was released by Facebook AI in 2019."]])[0]
    print(answers[0].text, answers[0].score)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from spanbert_reader.inference.decoding import CharSpan, DecodeSettings
from spanbert_reader.inference.engine import ExtractiveQA, QueryPrediction
from spanbert_reader.inference.ranking import FusionSettings, no_answer, rerank, span_probability
from spanbert_reader.inference.settings import RankSettings, RuntimeSettings, ScoringSettings, checked_int
from spanbert_reader.inference.windows import WindowSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderAnswer:
    """One answer: a character span of passage ``passage`` (``text`` None for the no-answer entry) and its score
    in [0, 1]. ``meta`` holds the raw values it was scored from (``logit``, ``reader_score``, ``fused_logit``,
    ``passage_rank``, ``aggregated``; for the no-answer, the method and its inputs)."""

    text: str | None
    score: float
    passage: int | None = None
    start: int | None = None
    end: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_no_answer(self) -> bool:
        return self.text is None


def resolve_no_answer(scoring: ScoringSettings, model_name: str, folder: Path | None,
                      config_extra: dict[str, Any]) -> tuple[str, float]:
    """The no-answer method and threshold in force: init values, else the checkpoint's ``null_threshold.json``,
    else 0; ``"auto"`` is ``null_logit`` for checkpoints trained with unanswerable questions."""
    from spanbert_reader.inference.side_files import read_null_threshold

    stored = read_null_threshold(folder) if folder is not None else None
    threshold = scoring.null_threshold if scoring.null_threshold is not None else (stored or 0.0)
    if scoring.no_answer_method != "auto":
        return scoring.no_answer_method, float(threshold)
    name = model_name.lower().replace("-", "").replace("_", "")
    trained_with_null = (stored is not None or bool(config_extra.get("trained_with_null"))
                         or "squad2" in name or "squadv2" in name)
    return ("null_logit" if trained_with_null else "estimate"), float(threshold)


def resolve_fusion(scoring: ScoringSettings, stored: FusionSettings | None) -> FusionSettings:
    """The fusion values in force: init values, else the ``stored`` ones (``fusion.json``, the profile's entry),
    else the built-in default of the profile."""
    from spanbert_reader.inference.ranking import DEFAULT_FUSION, PROFILE_DEFAULTS

    if stored is None:
        stored = PROFILE_DEFAULTS.get(scoring.fusion_profile or "", DEFAULT_FUSION)
    return FusionSettings(
        retriever_weight=stored.retriever_weight if scoring.retriever_weight is None else scoring.retriever_weight,
        normalization=scoring.retriever_normalization or stored.normalization,
        aggregate=stored.aggregate if scoring.aggregate_answers is None else scoring.aggregate_answers,
    )


def resolve_calibration(scoring: ScoringSettings, stored):
    """The calibration in force: None when ``calibrate`` is off, else the ``stored`` one (the profile's entry of
    ``fusion.json``, else its main entry), else the built-in default."""
    from spanbert_reader.inference.calibration import DEFAULT_CALIBRATION

    if not scoring.calibrate:
        return None
    return stored or DEFAULT_CALIBRATION


def _probabilities(prediction: QueryPrediction, calibration, count: int) -> list[float]:
    """Calibrated P(right) of the first ``count`` ranked spans, never rising down the ranking."""
    from spanbert_reader.inference.calibration import answer_features

    probabilities, ceiling = [], 1.0
    for features in answer_features(prediction, count):
        ceiling = min(ceiling, calibration.probability(features))
        probabilities.append(ceiling)
    return probabilities


def build_answers(prediction: QueryPrediction, settings: RankSettings, top_k: int, no_answer_entry: bool = True,
                  score_threshold: float | None = None) -> list[ReaderAnswer]:
    """Best-first answers of a ranked prediction (at most ``top_k`` spans, plus the no-answer when asked), with
    the scores users see; answers below ``score_threshold`` are dropped.

    Calibrated (``settings.calibration``): each span's score is its chance of being right, the no-answer's is
    1 - the best span's chance (whatever ``top_k``), and the no-answer comes first when that chance is below the
    calibration's ``abstain_threshold`` or, for ``null_logit`` checkpoints, when the model's null-logit rule says
    no passage answers; otherwise it comes after the best answer. Uncalibrated: TER's sigmoid scores."""
    factor, calibration = settings.calibration_factor, settings.calibration
    chances = _probabilities(prediction, calibration, max(top_k, 1)) if calibration is not None else []
    answers = []
    for index, span in enumerate(prediction.spans[:top_k]):
        meta: dict[str, Any] = {"logit": span.logit, "reader_score": span_probability(span.logit, factor),
                                "fused_logit": span.score, "passage_rank": span.passage + 1,
                                "uncalibrated_score": span_probability(span.score, factor)}
        if span.count > 1:
            meta["aggregated"] = span.count
        text = prediction.passages[span.passage][span.start: span.end]
        score = chances[index] if calibration is not None else meta["uncalibrated_score"]
        answers.append(ReaderAnswer(text, score, span.passage, span.start, span.end, meta))
    if no_answer_entry:
        verdict = no_answer(settings.no_answer_method, prediction.null_logit, prediction.best_logit,
                            settings.null_threshold, factor, [a.score for a in answers])
        if calibration is None:
            answers.append(ReaderAnswer(None, verdict.score, meta=verdict.meta))
            answers.sort(key=lambda a: a.score, reverse=True)
        else:
            best = chances[0] if chances else 0.0
            abstain = best < calibration.abstain_threshold or bool(verdict.meta.get("predicted"))
            entry = ReaderAnswer(None, 1.0 - best, meta={**verdict.meta, "method": "calibrated",
                                                         "null_rule": verdict.meta.get("method"),
                                                         "best_chance": best, "abstained": abstain,
                                                         "abstain_threshold": calibration.abstain_threshold})
            answers.insert(0 if abstain or not answers else 1, entry)
    if score_threshold is not None:
        answers = [a for a in answers if a.score >= score_threshold]
    return answers


def ranked_answers(prediction: QueryPrediction, settings: RankSettings, top_k: int, k: int | None = None,
                   no_answer_entry: bool = True, score_threshold: float | None = None) -> list[ReaderAnswer]:
    """The answers a reader gives from the first ``k`` passages of ``prediction`` (all when None) under
    ``settings``: ranked (:func:`rerank`), at most ``top_k`` spans, scored, plus the no-answer when asked."""
    from spanbert_reader.inference.calibration import AGREEMENT_POOL

    # calibration looks at the answers below too (margin, agreement): rank that many, not every candidate
    keep = max(top_k, AGREEMENT_POOL) if settings.calibration is not None else top_k
    return build_answers(rerank(prediction, settings, k=k, top_k=keep), settings, top_k, no_answer_entry,
                         score_threshold)


def top_text(answers: list[ReaderAnswer]) -> str:
    """The reader's answer text for scoring: the best span's, or "" when there is none or the no-answer is first by
    the model's own rule (SQuAD 2.0 null logit, or TER's estimate). A calibrated abstention ("not found") does not
    change it: that decision is measured apart (:mod:`spanbert_reader.evaluation.calibrating`)."""
    if not answers:
        return ""
    first = answers[0]
    if first.text is None and (first.meta.get("method") != "calibrated" or first.meta.get("predicted")):
        return ""
    return next((a.text for a in answers if a.text is not None), "")


class SpanReader:
    """A span-prediction QA checkpoint (in-repo SpanBERT for BERT checkpoints, transformers for other QA
    architectures) with its scoring settings. Loaded on first use (thread-safe); ``load()`` loads now."""

    def __init__(self, model: str | Path, *, device: str | None = None, token: str | None = None,
                 windows: WindowSettings | None = None, decode: DecodeSettings | None = None,
                 runtime: RuntimeSettings | None = None, scoring: ScoringSettings | None = None) -> None:
        self.model_name = str(model)
        self.device = device
        self.token = token
        self.windows = windows or WindowSettings()
        self.decode = decode or DecodeSettings()
        self.runtime = runtime or RuntimeSettings()
        self.scoring = scoring or ScoringSettings()
        self._lock = threading.Lock()
        self._engine: ExtractiveQA | None = None
        self._model: Any = None
        self._settings: RankSettings | None = None
        self.sources: dict[str, str] = {}  # where the model, fusion and calibration came from (after loading)

    @classmethod
    def from_model(cls, model, tokenizer, device, *, windows: WindowSettings | None = None,
                   decode: DecodeSettings | None = None, runtime: RuntimeSettings | None = None,
                   scoring: ScoringSettings | None = None) -> SpanReader:
        """A reader over a model already in memory (training's dev evaluation); it reads no side files."""
        reader = cls(getattr(model, "name_or_path", "in-memory model"), device=str(device), windows=windows,
                     decode=decode, runtime=runtime, scoring=scoring)
        reader._install(model, tokenizer, None)
        return reader

    def with_model(self, model: str | Path) -> SpanReader:
        """The same settings over another checkpoint (not loaded yet)."""
        return SpanReader(model, device=self.device, token=self.token, windows=self.windows, decode=self.decode,
                          runtime=self.runtime, scoring=self.scoring)

    @property
    def torch_device(self):
        """The device the model runs on (``device``, else a GPU when there is one, else the CPU)."""
        import torch

        if self.device:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def load(self) -> None:
        """Load the model and tokenizer and resolve the scoring settings (once, also from several threads)."""
        if self._engine is not None:
            return
        with self._lock:
            if self._engine is None:
                self._load()

    def _load(self) -> None:
        import torch

        from spanbert_reader.inference.precision import quantize_if_asked, resolve_precision, use_onednn_if_faster
        from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_qa_model, load_tokenizer
        from spanbert_reader.modeling.checkpoint import resolve_checkpoint

        folder = resolve_checkpoint(self.model_name, token=self.token)
        model = load_qa_model(str(folder), require_qa_head=True)
        tokenizer = load_tokenizer(str(folder))
        torch_device = self.torch_device
        model.to(device=torch_device, dtype=resolve_precision(self.runtime.precision, torch_device)).eval()
        if isinstance(model, SpanBertForQuestionAnswering):
            model.qa_outputs.to(torch_device, torch.float32)  # the span head stays fp32: its logits are ranked
        quantize_if_asked(model, self.runtime.precision, torch_device)
        if (isinstance(model, SpanBertForQuestionAnswering) and not self.runtime.compile
                and use_onednn_if_faster(model, self.runtime.precision, torch_device)):
            logger.info("fp32 Linear layers run through oneDNN (measured faster than torch's BLAS here)")
        self._install(model, tokenizer, Path(folder))
        logger.info("loaded %s on %s, settings %s", self.model_name, torch_device, self._settings)

    def _install(self, model, tokenizer, folder: Path | None) -> None:
        import torch

        method, threshold = resolve_no_answer(self.scoring, self.model_name, folder,
                                              getattr(getattr(model, "config", None), "extra", {}) or {})
        from spanbert_reader.inference.side_files import stored_scoring

        stored_fusion, stored_calibration = (stored_scoring(folder, self.scoring.fusion_profile) if folder is not None
                                             else (None, None))  # fusion.json read once
        calibration = resolve_calibration(self.scoring, stored_calibration)
        self._settings = RankSettings(resolve_fusion(self.scoring, stored_fusion), self.scoring.overlap_threshold,
                                      method, threshold, self.scoring.calibration_factor, calibration)
        self.sources = self._sources(folder, calibration)
        runtime = self.runtime
        runnable = torch.compile(model) if runtime.compile else model
        self._model = model
        self._engine = ExtractiveQA(
            runnable, tokenizer, self.torch_device, windows=self.windows, decode=self.decode,
            batch_size=runtime.batch_size, max_tokens_per_batch=runtime.max_tokens_per_batch,
            use_token_type_ids=runtime.use_token_type_ids,
            packed=runtime.packed and not runtime.compile and hasattr(model, "forward_packed"),
            pad_to_multiple=64 if runtime.compile else None, cpu_workers=1 if runtime.compile else runtime.cpu_workers)

    def _sources(self, folder: Path | None, calibration) -> dict[str, str]:
        from spanbert_reader.inference.calibration import DEFAULT_CALIBRATION
        from spanbert_reader.inference.side_files import FUSION_FILE

        stored = folder is not None and (folder / FUSION_FILE).exists()
        scoring = self.scoring
        given = [scoring.retriever_weight, scoring.retriever_normalization, scoring.aggregate_answers]
        entry = f"{FUSION_FILE} ({scoring.fusion_profile or 'main'} entry)"
        fusion = ("init parameters" if all(v is not None for v in given) else
                  f"{entry} where set" if stored else "built-in default")
        if calibration is None:
            calibrated = "off (calibrate=False)"
        elif calibration is DEFAULT_CALIBRATION:
            calibrated = "built-in default (fitted on the demo reader)"
        else:
            calibrated = entry
        precision = self.runtime.precision
        if precision == "auto":
            from spanbert_reader.inference.precision import resolve_precision

            precision = f"auto: {str(resolve_precision(precision, self.torch_device)).removeprefix('torch.')}"
        return {"model": self.model_name, "precision": precision, "fusion": fusion, "calibration": calibrated}

    @property
    def settings(self) -> RankSettings:
        """The resolved ranking and scoring settings (init values, else the checkpoint's files, else defaults)."""
        self.load()
        assert self._settings is not None
        return self._settings

    @property
    def engine(self) -> ExtractiveQA:
        """The batching and decoding core."""
        self.load()
        assert self._engine is not None
        return self._engine

    @property
    def model(self):
        """The loaded module (its ``config`` and ``checkpoint_folder``)."""
        self.load()
        return self._model

    @property
    def checkpoint_folder(self) -> Path | None:
        """The local folder of the loaded checkpoint (None for a model given in memory)."""
        folder = getattr(self.model, "checkpoint_folder", None)
        return Path(folder) if folder is not None else None

    def predict(self, queries: list[str], passages: list[list[str]],
                retriever_scores: list[list[float | None]] | None = None, *, windows: WindowSettings | None = None,
                decode: DecodeSettings | None = None, progress=None) -> list[QueryPrediction]:
        """Every candidate span of each query over its passages (unranked; see :func:`rerank`)."""
        return self.engine.predict(queries, passages, windows=windows, decode=decode, progress=progress,
                                   retriever_scores=retriever_scores)

    def answer(self, queries: list[str], passages: list[list[str]],
               retriever_scores: list[list[float | None]] | None = None, *, top_k: int = 20,
               score_threshold: float | None = None, no_answer: bool = True, progress=None,
               **overrides: Any) -> list[list[ReaderAnswer]]:
        """Ranked answers for each query over its passages (at most ``top_k`` spans, plus the no-answer).

        ``overrides`` change this call only: ``max_seq_length``, ``stride`` (windows), ``max_answer_length``
        (decoding) and ``overlap_threshold`` (ranking).
        """
        checked_int("top_k", top_k, 0)
        unknown = set(overrides) - {"max_seq_length", "stride", "max_answer_length", "overlap_threshold"}
        if unknown:
            raise TypeError(f"unknown overrides: {', '.join(sorted(unknown))}")
        settings = self.settings
        if "overlap_threshold" in overrides:
            settings = replace(settings, overlap_threshold=overrides["overlap_threshold"])
        windows = replace(self.windows, **{k: overrides[k] for k in ("max_seq_length", "stride") if k in overrides})
        decode = replace(self.decode, **{k: overrides[k] for k in ("max_answer_length",) if k in overrides})
        predictions = self.predict(queries, passages, retriever_scores, windows=windows, decode=decode,
                                   progress=progress)
        return [ranked_answers(p, settings, top_k, None, no_answer, score_threshold) for p in predictions]


__all__ = ["CharSpan", "ReaderAnswer", "SpanReader", "build_answers", "ranked_answers", "rerank", "top_text"]
