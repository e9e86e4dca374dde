"""What a reader is configured with, in groups: how the model runs (:class:`RuntimeSettings`), how answers are
scored and ranked (:class:`ScoringSettings`, values left ``None`` come from the checkpoint's side files), and the
resolved values ranking uses (:class:`RankSettings`). Every value is checked when a settings object is made, so a
bad YAML value fails at load time, not at the first question."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
NORMALIZATIONS = ("minmax", "max", "rank", "raw")
NO_ANSWER_METHODS = ("auto", "null_logit", "estimate")


def checked_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    """Raise ValueError unless ``value`` is an integer ``>= minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def checked_float(name: str, value: Any, minimum: float | None = None, allow_none: bool = False,
                  exclusive: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite number (``> minimum`` / ``>= minimum``; None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{' or None' if allow_none else ''}, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise ValueError(f"{name} must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")


def check_precision(precision: Any) -> None:
    """Raise ValueError unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto', 'fp32', 'fp16', 'bf16' or 'int8', got {precision!r}")


def check_fusion_profile(profile: str | None) -> None:
    """Raise ValueError unless ``profile`` is None or a non-empty name of letters, digits, ``-`` and ``_``."""
    if profile is None:
        return
    if not isinstance(profile, str) or not profile or not all(c.isalnum() or c in "-_" for c in profile):
        raise ValueError(f"fusion_profile must be None or a name of letters, digits, '-' and '_', got {profile!r}")


@dataclass(frozen=True)
class FusionSettings:
    """How retriever scores and same-text answers change the ranking (see :mod:`spanbert_reader.inference.ranking`)."""

    retriever_weight: float = 0.0
    normalization: str = "minmax"
    aggregate: bool = False

    def __post_init__(self) -> None:
        weight = self.retriever_weight
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"retriever_weight must be a finite number >= 0, got {weight!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"retriever_normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if not isinstance(self.aggregate, bool):
            raise ValueError(f"aggregate_answers must be True or False, got {self.aggregate!r}")

    @property
    def active(self) -> bool:
        return self.retriever_weight > 0 or self.aggregate


@dataclass(frozen=True)
class RuntimeSettings:
    """How the model runs.

    ``batch_size``: windows per forward pass. ``max_tokens_per_batch``: optional padded-token budget per forward
    pass (long documents on GPUs). ``precision``: ``"auto"`` (bf16 on GPUs that support it, else fp16; fp32 on
    CPU), ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"int8"`` (CPU only, opt-in: the encoder's Linear layers in
    int8, weights per output channel and activations per token). ``use_token_type_ids``: pass segment ids (False
    only to reproduce readers that omit them). ``packed``: run each batch's windows concatenated without padding
    (False pads each batch to its longest window; both give the same answers within float tolerance). ``compile``:
    run the model through ``torch.compile`` (experimental; batches padded to multiples of 64 tokens).
    ``cpu_workers``: on the CPU, each batch runs as this many single-threaded passes side by side, which keeps its
    speed when other processes share the cores (None: torch's intra-op thread count, set with
    ``torch.set_num_threads`` or ``OMP_NUM_THREADS``; 1: one pass on torch's thread pool); the same answers either way.
    """

    batch_size: int = 32
    max_tokens_per_batch: int | None = None
    precision: str = "auto"
    use_token_type_ids: bool = True
    packed: bool = True
    compile: bool = False
    cpu_workers: int | None = None

    def __post_init__(self) -> None:
        checked_int("batch_size", self.batch_size, 1)
        checked_int("max_tokens_per_batch", self.max_tokens_per_batch, 1, allow_none=True)
        check_precision(self.precision)
        checked_int("cpu_workers", self.cpu_workers, 1, allow_none=True)


@dataclass(frozen=True)
class ScoringSettings:
    """How answers are scored and ranked; ``None`` means "the value stored beside the checkpoint, else the
    built-in default" (see :mod:`spanbert_reader.inference.side_files`).

    ``no_answer_method``: ``"null_logit"`` (the model's [CLS] null score; SQuAD 2.0 models), ``"estimate"``
    (``prod(1 - score)``, TransformersExtractiveReader's) or ``"auto"`` (``null_logit`` for checkpoints trained with
    unanswerable questions). ``null_threshold``: the ``null_logit`` threshold (``null_threshold.json``, else 0).
    ``calibrate``: ``answer.score`` is the calibrated chance the answer is right (the checkpoint's stored
    calibration, else the built-in one; see :mod:`spanbert_reader.inference.calibration`) and the no-answer's score
    is 1 - that chance of the best answer; False gives TransformersExtractiveReader's scores instead,
    ``sigmoid(calibration_factor * logit)``. ``calibration_factor``: that scale. ``retriever_weight``,
    ``retriever_normalization``, ``aggregate_answers``: score fusion (``fusion.json``); ``fusion_profile`` picks
    that file's entry for a retrieval setup. ``overlap_threshold``: drop an answer overlapping a better one of the
    same passage by more than this fraction (None keeps all).
    """

    no_answer_method: str = "auto"
    null_threshold: float | None = None
    calibration_factor: float = 0.1
    retriever_weight: float | None = None
    retriever_normalization: str | None = None
    aggregate_answers: bool | None = None
    fusion_profile: str | None = None
    overlap_threshold: float | None = 0.01
    calibrate: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.calibrate, bool):
            raise ValueError(f"calibrate must be True or False, got {self.calibrate!r}")
        if self.no_answer_method not in NO_ANSWER_METHODS:
            raise ValueError(f"no_answer_method must be one of {NO_ANSWER_METHODS}, got {self.no_answer_method!r}")
        checked_float("null_threshold", self.null_threshold, allow_none=True)
        checked_float("calibration_factor", self.calibration_factor, 0.0, exclusive=True)
        FusionSettings(retriever_weight=0.0 if self.retriever_weight is None else self.retriever_weight,
                       normalization=self.retriever_normalization or "minmax",
                       aggregate=False if self.aggregate_answers is None else self.aggregate_answers)
        check_fusion_profile(self.fusion_profile)
        if self.overlap_threshold is not None:
            checked_float("overlap_threshold", self.overlap_threshold, 0.0, allow_none=True)
            if self.overlap_threshold > 1:
                raise ValueError(f"overlap_threshold must be in [0, 1] or None, got {self.overlap_threshold!r}")


@dataclass(frozen=True)
class RankSettings:
    """The values ranking and scoring use, every one resolved (no ``None`` left but ``overlap_threshold``)."""

    fusion: FusionSettings
    overlap_threshold: float | None = 0.01
    no_answer_method: str = "estimate"  # "null_logit" or "estimate"
    null_threshold: float = 0.0
    calibration_factor: float = 0.1
    calibration: Any = None  # calibration.Calibration, or None for sigmoid(calibration_factor * logit) scores

    def with_fusion(self, fusion) -> RankSettings:
        """The same settings with other fusion values (tuning tries many)."""
        from dataclasses import replace

        return replace(self, fusion=fusion)
