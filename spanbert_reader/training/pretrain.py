"""Continued pre-training with SpanBERT's objectives (span masking + span boundary objective) on a corpus.

Blocks are single segments ``[CLS] tokens [SEP]`` of up to ``max_seq_length`` tokens that stay inside one document
and end at word boundaries; masking is drawn afresh for every batch. The result is an encoder checkpoint in
Hugging Face BERT format that ``spanbert-qa train`` and transformers' ``BertModel`` load.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanbert_reader.data.corpus import read_corpus
from spanbert_reader.training.masking import IGNORE, SpanMasker, sbo_targets
from spanbert_reader.training.optim import (
    TrainingSettings,
    decay_parameter_groups,
    linear_warmup_decay,
    make_accelerator,
    optimisation_step,
    seed_everything,
)

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PretrainConfig(TrainingSettings):
    """Options of ``spanbert-qa pretrain`` (SpanBERT's pre-training learning rate 1e-4)."""

    model: str
    output: str
    corpus: list[str] | None = None  # files or folders; or pass the documents to ``pretrain``
    max_seq_length: int = 512
    learning_rate: float = 1e-4
    mask_ratio: float = 0.15


@dataclass
class Block:
    """Token ids of one block with word indices (-1 for [CLS]/[SEP])."""

    input_ids: np.ndarray
    word_ids: np.ndarray


def make_blocks(documents: Sequence[str], tokenizer, max_seq_length: int) -> list[Block]:
    """Cut each document into blocks of whole words, ``[CLS] ... [SEP]``, never crossing documents."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    capacity = max_seq_length - 2
    blocks: list[Block] = []
    for encoding in backend.encode_batch(list(documents), add_special_tokens=False):
        ids = np.asarray(encoding.ids, dtype=np.int64)
        words = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
        start = 0
        while start < len(ids):
            end = min(start + capacity, len(ids))
            if end < len(ids):  # step back to a word start so no word is split across blocks
                boundary = end
                while boundary > start and words[boundary] == words[boundary - 1]:
                    boundary -= 1
                end = boundary if boundary > start else end
            chunk_words = words[start:end] - words[start]
            blocks.append(Block(np.concatenate([[cls_id], ids[start:end], [sep_id]]),
                                np.concatenate([[-1], chunk_words, [-1]])))
            start = end
    return [b for b in blocks if b.input_ids.shape[0] > 3]


def collate_masked(blocks: Sequence[Block], masker: SpanMasker, pad_id: int) -> dict[str, torch.Tensor]:
    """Mask each block and pad the batch; SBO targets are flattened with their row index."""
    masked = [masker(b.input_ids, b.word_ids) for b in blocks]
    longest = max(m.input_ids.shape[0] for m in masked)
    ids = np.full((len(masked), longest), pad_id, dtype=np.int64)
    labels = np.full_like(ids, IGNORE)
    attention = np.zeros_like(ids)
    rows, left, right, offsets, targets = [], [], [], [], []
    for row, m in enumerate(masked):
        n = m.input_ids.shape[0]
        ids[row, :n] = m.input_ids
        labels[row, :n] = m.labels
        attention[row, :n] = 1
        lft, rgt, off, tgt = sbo_targets(m.spans, m.labels)
        rows += [row] * len(tgt)
        left += lft
        right += rgt
        offsets += off
        targets += tgt
    as_tensor = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(attention),
            "labels": torch.from_numpy(labels), "sbo_batch": as_tensor(rows), "sbo_left": as_tensor(left),
            "sbo_right": as_tensor(right), "sbo_offsets": as_tensor(offsets), "sbo_targets": as_tensor(targets)}


def pretrain(config: PretrainConfig, documents: Sequence[str] | None = None) -> dict[str, Any]:
    """Run continued pre-training on ``documents`` (else the files of ``config.corpus``); returns a summary
    (steps, throughput, memory, loss history)."""
    from tqdm.auto import tqdm

    from spanbert_reader.modeling import load_tokenizer
    from spanbert_reader.modeling.pretraining import SpanBertForPreTraining

    accumulation = config.accumulation_steps()
    per_device = config.batch_size // accumulation
    accelerator = make_accelerator(config, accumulation)
    seed_everything(config.seed)
    if documents is None:
        if not config.corpus:
            raise ValueError("pass corpus paths or the documents to pre-train on")
        documents = read_corpus(config.corpus)
    if not documents:
        raise ValueError("the corpus holds no text")
    tokenizer = load_tokenizer(config.model)
    model = SpanBertForPreTraining.from_encoder(config.model)
    if config.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {config.max_seq_length} exceeds the model's "
                         f"{model.config.max_position_embeddings} positions")
    if config.gradient_checkpointing:
        model.bert.encoder.gradient_checkpointing = True
    model.train()
    blocks = make_blocks(documents, tokenizer, config.max_seq_length)
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id}
    masker = SpanMasker(tokenizer.mask_token_id, model.config.vocab_size, special, config.mask_ratio,
                        seed=config.seed)
    steps_per_epoch = max(1, math.ceil(len(blocks) / config.batch_size))
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW(decay_parameter_groups(model, config.weight_decay), lr=config.learning_rate)
    scheduler = linear_warmup_decay(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    rng = np.random.default_rng(config.seed)
    history = []
    tokens = steps = 0
    bar = tqdm(total=total_steps, desc="Pre-training", unit="step", disable=not config.progress)
    started = time.perf_counter()
    running = {"loss": 0.0, "mlm": 0.0, "sbo": 0.0}
    while steps < total_steps:
        order = rng.permutation(len(blocks))
        for start in range(0, len(order), per_device):
            batch = collate_masked([blocks[i] for i in order[start: start + per_device]], masker,
                                   tokenizer.pad_token_id)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            out = optimisation_step(accelerator, model, optimizer, scheduler, lambda batch=batch: model(**batch),
                                    config.max_grad_norm)
            tokens += int(batch["attention_mask"].sum())
            for key, value in (("loss", out.loss), ("mlm", out.mlm), ("sbo", out.sbo)):
                running[key] += float(value.detach()) / accumulation
            if not accelerator.sync_gradients:
                continue
            steps += 1
            history.append({"step": steps, **running, "lr": scheduler.get_last_lr()[0]})
            bar.set_postfix(loss=f"{running['loss']:.3f}", mlm=f"{running['mlm']:.3f}", sbo=f"{running['sbo']:.3f}")
            bar.update(1)
            running = {"loss": 0.0, "mlm": 0.0, "sbo": 0.0}
            if steps >= total_steps:
                break
    bar.close()
    elapsed = time.perf_counter() - started
    output = Path(config.output)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).bert.save_pretrained(output, tokenizer=tokenizer)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if accelerator.device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    summary = {"steps": steps, "wall_time_s": elapsed, "steps_per_s": steps / elapsed if elapsed else None,
               "tokens_per_s": tokens / elapsed if elapsed else None, "peak_memory_mb": peak,
               "documents": len(documents), "blocks": len(blocks), "config": asdict(config), "history": history}
    if accelerator.is_main_process:
        (output / "pretraining_log.json").write_text(json.dumps(summary, indent=2))
    return summary
