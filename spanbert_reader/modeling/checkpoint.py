"""Load and save Hugging Face BERT-format checkpoints (safetensors or ``.bin``) for the in-repo models.

Accepted layouts: ``BertModel`` (keys without prefix), ``BertForQuestionAnswering`` / ``BertForPreTraining``
(``bert.`` prefix, ``qa_outputs.*``, ``cls.*``), old TF-converted names (``LayerNorm.gamma/beta``), sharded
safetensors (``model.safetensors.index.json``) and SpanBERT's own hub checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spanbert_reader.modeling.config import SpanBertConfig

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_HUB_PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "vocab.txt", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json", "null_threshold.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class CheckpointError(ValueError):
    """A checkpoint cannot be used: missing files, missing weights or shape mismatches."""


def resolve_checkpoint(path_or_id: str | os.PathLike, token: str | None = None,
                       revision: str | None = None) -> Path:
    """The local folder for ``path_or_id``: an existing folder as is, a hub id downloaded (needs network)."""
    text = str(path_or_id)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"Model path '{text}' is a file; pass the folder that holds config.json and the weights.")
    if text.startswith((".", "/", "~")) or not _HUB_ID.match(text):
        raise CheckpointError(f"Model path '{text}' does not exist.")
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo_id=text, revision=revision, token=token, allow_patterns=_HUB_PATTERNS)
    except Exception as exc:  # offline, unknown repo, gated model ...
        raise CheckpointError(
            f"Could not get '{text}' from the Hugging Face hub ({type(exc).__name__}: {exc}). It is neither a local "
            "folder nor a reachable hub id. Without network, pass a local folder that holds config.json and "
            "model.safetensors (or pytorch_model.bin)."
        ) from exc
    local_path = Path(local)
    if not any((local_path / name).exists() for name in WEIGHT_FILES):
        # Old repositories (SpanBERT's own) ship only pytorch_model.bin.
        local_path = Path(snapshot_download(repo_id=text, revision=revision, token=token,
                                            allow_patterns=_HUB_PATTERNS + ["pytorch_model.bin"]))
    return local_path


def _load_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"Refused to load {path}: it is not a plain tensor checkpoint ({type(exc).__name__}: {exc}). "
            "Only weights_only pickles are read, since an arbitrary pickle can run code; convert the file to "
            "safetensors with the tool that made it."
        ) from exc


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors stored in ``folder`` (safetensors preferred over ``.bin``)."""
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    if single.exists():
        return load_file(str(single))
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(folder / shard)))
        return state
    binary = folder / "pytorch_model.bin"
    if binary.exists():
        return _load_bin(binary)
    raise CheckpointError(
        f"No weights in '{folder}': expected one of {', '.join(WEIGHT_FILES)}."
    )


def normalise_key(key: str) -> str:
    """Map old or prefixed BERT parameter names onto this package's names (``bert.`` stripped later)."""
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
    key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
    for prefix in ("model.", "module."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def split_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Separate encoder weights (keys relative to the encoder) from everything else (heads)."""
    encoder: dict[str, torch.Tensor] = {}
    other: dict[str, torch.Tensor] = {}
    for raw_key, tensor in state.items():
        key = normalise_key(raw_key)
        if key.startswith("bert."):
            encoder[key[len("bert."):]] = tensor
        elif key.startswith(("embeddings.", "encoder.", "pooler.")):
            encoder[key] = tensor
        else:
            other[key] = tensor
    encoder.pop("embeddings.position_ids", None)
    return encoder, other


def fill_module(module: nn.Module, source: dict[str, torch.Tensor], where: str,
                optional_prefixes: tuple[str, ...] = ()) -> list[str]:
    """Copy ``source`` into ``module``; raise :class:`CheckpointError` on missing or mismatched weights (other than
    ``optional_prefixes``, whose missing keys are returned)."""
    target = module.state_dict()
    missing = [k for k in target if k not in source]
    mismatched = [f"{k}: checkpoint {tuple(source[k].shape)} vs model {tuple(target[k].shape)}"
                  for k in target if k in source and source[k].shape != target[k].shape]
    required_missing = [k for k in missing if not k.startswith(optional_prefixes)]
    problems = []
    if required_missing:
        problems.append(f"missing {len(required_missing)} weight(s): {', '.join(required_missing[:20])}"
                        + (" ..." if len(required_missing) > 20 else ""))
    if mismatched:
        problems.append(f"shape mismatch for {len(mismatched)} weight(s): {'; '.join(mismatched[:20])}")
    if problems:
        raise CheckpointError(f"Checkpoint at {where} does not fit the model: " + " | ".join(problems))
    module.load_state_dict({k: v for k, v in source.items() if k in target}, strict=False)
    return [k for k in missing if k.startswith(optional_prefixes)]


@dataclass
class CheckpointState:
    """A checkpoint read from disk: its folder, config, encoder weights and every other (head) weight."""

    folder: Path
    config: SpanBertConfig
    encoder: dict[str, torch.Tensor]
    heads: dict[str, torch.Tensor]
    where: str  # what the user passed, for messages


def read_checkpoint(path_or_id: str | os.PathLike, *, token: str | None = None,
                    revision: str | None = None) -> CheckpointState:
    """Read a BERT-format checkpoint (folder or hub id) into config + weights, split into encoder and heads."""
    folder = resolve_checkpoint(path_or_id, token=token, revision=revision)
    config_path = folder / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"No config.json in '{folder}': it is not a Hugging Face BERT-format checkpoint.")
    try:
        config = SpanBertConfig.from_json_file(config_path)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{config_path} is not a usable model config ({type(exc).__name__}: {exc}).") from exc
    foreign = config.extra.get("original_model_type")
    if foreign:
        raise CheckpointError(f"'{path_or_id}' is a {foreign} checkpoint; the in-repo model is BERT-only. "
                              "SpanBERTReader reads it through transformers (spanbert_reader.modeling.load_qa_model).")
    try:
        state = read_state_dict(folder)
    except CheckpointError:
        raise
    except Exception as exc:  # truncated or empty safetensors, corrupt pickle, unreadable shard
        raise CheckpointError(f"The weights in '{folder}' cannot be read ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); the file may be truncated "
                              "or not a checkpoint.") from exc
    encoder_state, other = split_state_dict(state)
    check_config_matches_weights(config, encoder_state, config_path)
    return CheckpointState(folder, config, encoder_state, other, str(path_or_id))


def check_config_matches_weights(config: SpanBertConfig, encoder: dict[str, torch.Tensor], config_path: Path) -> None:
    """CheckpointError when ``config.json`` gives sizes its weights do not have, before a model of the config's
    size is allocated (a ``vocab_size`` of 10**12 would otherwise ask the allocator for terabytes)."""
    expected = {"embeddings.word_embeddings.weight": ("vocab_size", "hidden_size"),
                "embeddings.position_embeddings.weight": ("max_position_embeddings", "hidden_size"),
                "embeddings.token_type_embeddings.weight": ("type_vocab_size", "hidden_size"),
                "encoder.layer.0.intermediate.dense.weight": ("intermediate_size", "hidden_size")}
    for key, fields in expected.items():
        tensor = encoder.get(key)
        if tensor is None or tensor.dim() != len(fields):
            continue
        for axis, name in enumerate(fields):
            if tensor.shape[axis] != getattr(config, name):
                raise CheckpointError(f"{config_path} says {name} is {getattr(config, name)}, but the weights hold "
                                      f"{tensor.shape[axis]} ({key} has shape {tuple(tensor.shape)}); the config "
                                      "does not belong to these weights.")
    layers = {int(k.split(".")[2]) for k in encoder if k.startswith("encoder.layer.") and k.split(".")[2].isdigit()}
    if layers and max(layers) + 1 < config.num_hidden_layers:
        raise CheckpointError(f"{config_path} says num_hidden_layers is {config.num_hidden_layers}, but the weights "
                              f"hold {max(layers) + 1} layers; the config does not belong to these weights.")


def finish_loading(model: nn.Module, checkpoint: CheckpointState, dtype: torch.dtype | None = None,
                   device: str | torch.device | None = None) -> Any:
    """Put a freshly filled model in eval mode, remember its folder (for side files), move/cast it."""
    model.eval()
    model.checkpoint_folder = checkpoint.folder  # where null_threshold.json and tokenizer files are looked up
    if dtype is not None or device is not None:
        model.to(device=device, dtype=dtype)
    return model


def write_checkpoint(model: nn.Module, directory: str | os.PathLike, architecture: str, tokenizer: Any = None
                     ) -> Path:
    """Save ``model`` in Hugging Face BERT format: ``config.json`` (naming ``architecture``) +
    ``model.safetensors`` (+ tokenizer files)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config: SpanBertConfig = model.config
    config.extra["architectures"] = [architecture]
    config.extra.pop("original_model_type", None)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(directory / "model.safetensors", 0o644)  # safetensors writes 0600; checkpoints are meant to be shared
    config.save(directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory))
    return directory
