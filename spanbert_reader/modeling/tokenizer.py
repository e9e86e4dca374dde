"""Load the fast (Rust) tokenizer that belongs to a checkpoint, with correct casing."""

from __future__ import annotations

import logging
import os
from typing import Any

from spanbert_reader.data import jsonio

logger = logging.getLogger(__name__)


def read_vocab(path: str | os.PathLike) -> dict[str, int]:
    """Read a WordPiece ``vocab.txt`` (one token a line) into a token → id map."""
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            token = line.rstrip("\n")
            if token and token not in vocab:
                vocab[token] = index
    return vocab


def vocab_is_cased(vocab: dict[str, int] | list[str]) -> bool:
    """True when a WordPiece vocabulary holds upper-case word pieces (so text must not be lower-cased).

    Uncased BERT vocabularies have no upper-case letters outside ``[SPECIAL]`` tokens; cased ones
    (SpanBERT, bert-base-cased: 28,996 entries) have thousands.
    """
    tokens = list(vocab)
    words = [t for t in tokens if not (t.startswith("[") and t.endswith("]"))]
    upper = sum(1 for t in words if any(c.isupper() for c in t))
    return upper > max(10, 0.005 * len(words))


def load_tokenizer(path_or_id: str | os.PathLike, token: str | None = None,
                   model_max_length: int = 512) -> Any:
    """A ``transformers`` fast tokenizer for a checkpoint folder or hub id.

    ``tokenizer.json`` is used when present. With only ``vocab.txt`` (SpanBERT's hub checkpoints ship no
    tokenizer config) a BERT WordPiece tokenizer is built whose lower-casing follows ``tokenizer_config.json``
    when it says so, and otherwise the vocabulary: a cased vocabulary is never lower-cased.
    """
    from transformers import AutoTokenizer, BertTokenizer

    from spanbert_reader.modeling.auto import refuse_remote_code
    from spanbert_reader.modeling.checkpoint import CheckpointError, resolve_checkpoint

    folder = resolve_checkpoint(path_or_id, token=token)
    refuse_remote_code(folder)
    if (folder / "tokenizer.json").exists():
        try:
            return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        except (OSError, ValueError, TypeError, KeyError) as exc:  # a damaged tokenizer.json or config.json
            raise CheckpointError(f"The tokenizer in '{folder}' cannot be loaded ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}).") from exc
    vocab_file = folder / "vocab.txt"
    if not vocab_file.exists():
        raise CheckpointError(
            f"No tokenizer in '{folder}': expected tokenizer.json or vocab.txt. Save the tokenizer next to the "
            "weights (save_pretrained(dir, tokenizer=...))."
        )
    vocab = read_vocab(vocab_file)
    settings: dict[str, Any] = {}
    config_file = folder / "tokenizer_config.json"
    if config_file.exists():
        settings = jsonio.loads(config_file.read_text(encoding="utf-8"))
    cased = vocab_is_cased(vocab)
    lower = settings.get("do_lower_case")
    if lower is None:
        lower = not cased
    elif lower and cased:
        logger.warning("tokenizer_config.json in %s asks for lower-casing, but the vocabulary is cased.", folder)
    tokenizer = BertTokenizer(
        vocab=vocab, do_lower_case=bool(lower), strip_accents=settings.get("strip_accents"),
        tokenize_chinese_chars=settings.get("tokenize_chinese_chars", True),
        model_max_length=settings.get("model_max_length", model_max_length),
    )
    return tokenizer
