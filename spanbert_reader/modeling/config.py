"""SpanBERT / BERT configuration, read from and written to Hugging Face ``config.json`` files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanbert_reader.data import jsonio

_SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish")


@dataclass
class SpanBertConfig:
    """Hyper-parameters of a BERT-architecture encoder (SpanBERT uses BERT's architecture unchanged).

    Field names and meanings follow Hugging Face's ``BertConfig`` so that ``config.json`` files round-trip.
    Fields this class does not know (``architectures``, ``torch_dtype``, a stored ``null_threshold`` ...)
    are kept in :attr:`extra` and written back unchanged by :meth:`to_dict`.

    Example:
        >>> cfg = SpanBertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        ...                      intermediate_size=128)
        >>> SpanBertConfig.from_dict(cfg.to_dict()).hidden_size
        64
    """

    vocab_size: int = 28996
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    model_type: str = "bert"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"config field {name!r} must be a positive integer, got {value!r}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"config field {name!r} must be a non-negative number, got {value!r}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )
        if self.hidden_act not in _SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"hidden_act {self.hidden_act!r} is not supported; expected one of {_SUPPORTED_ACTIVATIONS}."
            )

    @property
    def head_dim(self) -> int:
        """Size of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanBertConfig:
        """Build a config from a ``config.json`` dictionary; unknown keys go to :attr:`extra`."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        if "model_type" in kwargs and kwargs["model_type"] not in ("bert", None):
            # Keep what the file says, but we only implement the BERT architecture.
            extra.setdefault("original_model_type", kwargs["model_type"])
            kwargs["model_type"] = "bert"
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """A ``config.json`` dictionary that ``transformers.BertConfig`` reads."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        merged = dict(self.extra)
        merged.update(data)
        return merged

    @classmethod
    def from_json_file(cls, path: str | Path) -> SpanBertConfig:
        """Read a ``config.json`` file."""
        path = Path(path)
        try:
            data = jsonio.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}.")
        return cls.from_dict(data)

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory`` and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path
