"""Any extractive-QA checkpoint behind one interface: BERT/SpanBERT checkpoints load into the in-repo model;
other architectures (RoBERTa, XLM-RoBERTa, DeBERTa-v2, ELECTRA, ...) run through ``transformers``'
``AutoModelForQuestionAnswering``, wrapped so the inference engine (windows, batching, decoding, no-answer,
fusion) treats them alike."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spanbert_reader.data import jsonio
from spanbert_reader.modeling.checkpoint import CheckpointError, resolve_checkpoint
from spanbert_reader.modeling.heads import SpanBertForQuestionAnswering, SpanLogits

IN_REPO_TYPES = ("bert", None)


def checkpoint_model_type(folder: Path) -> str | None:
    """The ``model_type`` a checkpoint's ``config.json`` declares (None when it declares none)."""
    try:
        data = jsonio.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'} is not a usable model config ({exc}).") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{folder / 'config.json'} must hold a JSON object.")
    model_type = data.get("model_type")
    return model_type if isinstance(model_type, str) else None


@dataclass
class ForeignConfig:
    """What the reader reads from a model's config: ``extra`` (the config as a dictionary)."""

    extra: dict[str, Any] = field(default_factory=dict)


class TransformersQA(nn.Module):
    """A ``transformers`` QA model with the in-repo interface: ``forward(input_ids, attention_mask,
    token_type_ids)`` returns fp32 :class:`SpanLogits`. Segment ids are passed only to models that have them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.hf = model
        self.config = ForeignConfig(model.config.to_dict())
        self.uses_token_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 1

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, *, token: str | None = None,
                        require_qa_head: bool = False) -> TransformersQA:
        """Load a non-BERT QA checkpoint (refusing one without a trained span head when ``require_qa_head``)."""
        from transformers import AutoModelForQuestionAnswering

        folder = resolve_checkpoint(path_or_id, token=token)
        try:
            model, info = AutoModelForQuestionAnswering.from_pretrained(str(folder), output_loading_info=True,
                                                                        trust_remote_code=False)
        except Exception as exc:  # unknown architecture, damaged weights, ...
            raise CheckpointError(f"transformers cannot load the QA checkpoint at '{folder}' "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from exc
        head_missing = [k for k in info.get("missing_keys", []) if "qa_outputs" in k]
        if head_missing and require_qa_head:
            raise CheckpointError(f"Checkpoint at {path_or_id} has no span (QA) head ({', '.join(head_missing)}); "
                                  "fine-tune it first or pass a QA checkpoint.")
        wrapped = cls(model.eval())
        wrapped.checkpoint_folder = folder
        return wrapped.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> SpanLogits:
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_token_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        output = self.hf(**kwargs)
        return SpanLogits(output.start_logits.float().contiguous(), output.end_logits.float().contiguous())


def refuse_remote_code(folder: Path) -> None:
    """CheckpointError when the checkpoint's config or tokenizer config asks for its own Python code
    (``auto_map``): such code would run on load, so it is never loaded, whatever standard input says."""
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        try:
            data = jsonio.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # the loaders report a damaged file themselves
        if isinstance(data, dict) and data.get("auto_map"):
            raise CheckpointError(f"'{path}' has an auto_map: the checkpoint wants to run its own Python code "
                                  "(custom model classes), which spanbert-reader never does. Use a checkpoint of a "
                                  "standard architecture.")


def load_qa_model(path_or_id: str | os.PathLike, *, token: str | None = None, require_qa_head: bool = False
                  ) -> nn.Module:
    """The in-repo SpanBERT for BERT-architecture checkpoints, else the ``transformers`` model, wrapped."""
    folder = resolve_checkpoint(path_or_id, token=token)
    if not (folder / "config.json").exists():
        raise CheckpointError(f"No config.json in '{folder}': it is not a Hugging Face checkpoint.")
    refuse_remote_code(folder)
    if checkpoint_model_type(folder) in IN_REPO_TYPES:
        return SpanBertForQuestionAnswering.from_pretrained(str(folder), require_qa_head=require_qa_head)
    return TransformersQA.from_pretrained(folder, require_qa_head=require_qa_head)
