"""The options of ``spanbert-qa train`` and ``pretrain``, with their defaults (SpanBERT's recipe). Plain
dataclasses with no heavy import, so the command-line parser can show the defaults without loading torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(kw_only=True)
class TrainingSettings:
    """Optimisation settings shared by fine-tuning and pre-training."""

    batch_size: int = 32
    per_device_batch_size: int | None = None
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    epochs: float = 1.0
    max_steps: int | None = None
    max_grad_norm: float = 1.0
    seed: int = 42
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    progress: bool = True
    cpu: bool = False
    overwrite: bool = False  # allow output to be the model folder

    def validate(self) -> None:
        """Raise ValueError for settings that cannot train (named, with the value)."""
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        output = getattr(self, "output", None)
        if output is not None and Path(output).exists() and not Path(output).is_dir():
            raise ValueError(f"output {output} is a file; pass a folder for the checkpoint")
        model = getattr(self, "model", None)
        if (output is not None and model is not None and not self.overwrite and Path(model).exists()
                and Path(output).resolve() == Path(model).resolve()):
            raise ValueError(f"output {output} is the model folder: training would overwrite the checkpoint it "
                             "starts from; pass another --output, or --overwrite to replace it")

    def batch_layout(self, processes: int = 1) -> tuple[int, int]:
        """``(per-device batch, gradient-accumulation steps)`` that make ``processes`` processes add up to
        ``batch_size`` (the per-device batch defaults to an equal share of it)."""
        per_device = self.per_device_batch_size or self.batch_size // processes
        if per_device < 1 or self.batch_size < 1:
            raise ValueError(f"batch sizes must be at least 1, got batch_size={self.batch_size}, "
                             f"per_device_batch_size={per_device}")
        if self.batch_size % (per_device * processes):
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of per_device_batch_size "
                             f"({per_device}) x processes ({processes})")
        return per_device, self.batch_size // (per_device * processes)


@dataclass(kw_only=True)
class FinetuneConfig(TrainingSettings):
    """Options of ``spanbert-qa train`` (defaults: SpanBERT's fine-tuning recipe)."""

    train: str
    model: str
    output: str
    dev: str | None = None
    max_seq_length: int = 384
    stride: int = 128
    max_query_length: int = 64
    learning_rate: float = 2e-5
    epochs: float = 4.0
    eval_steps: int | None = None
    save_steps: int | None = None
    resume: bool = False
    stop_after: int | None = None  # stop this run after N steps (state saved; continue with resume)
    dev_limit: int | None = None
    train_limit: int | None = None
    max_answer_length: int = 30
    shared_norm: bool = False  # one softmax over all windows of all passages of a question
    distractors: int = 0  # with shared_norm: BM25-retrieved paragraphs read beside the gold one
    # with shared_norm: the share of questions also read over their distractors alone, with "no answer" ([CLS]) as
    # the target, so the null logit learns "the answer is not in these passages" (open-domain abstention)
    negatives: float = 0.0


@dataclass(kw_only=True)
class PretrainConfig(TrainingSettings):
    """Options of ``spanbert-qa pretrain`` (SpanBERT's pre-training learning rate 1e-4)."""

    model: str
    output: str
    corpus: list[str] | None = None  # files or folders; or pass the documents to ``pretrain``
    max_seq_length: int = 512
    learning_rate: float = 1e-4
    mask_ratio: float = 0.15
