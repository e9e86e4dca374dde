"""Continued pre-training with SpanBERT's objectives (span masking + span boundary objective) on a corpus.

Blocks are single segments ``[CLS] tokens [SEP]`` of up to ``max_seq_length`` tokens that stay inside one document
and end at word boundaries; masking is drawn afresh for every batch. The result is an encoder checkpoint in
Hugging Face BERT format that ``spanbert-qa train`` and transformers' ``BertModel`` load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spanbert_reader.data.corpus import read_corpus
from spanbert_reader.training.config import PretrainConfig
from spanbert_reader.training.loop import LoopState, make_loader, make_plan, run_loop
from spanbert_reader.training.masking import IGNORE, SpanMasker, sbo_targets
from spanbert_reader.training.setup import prepare_optimisation, run_summary, start_run

logger = logging.getLogger(__name__)


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
    (steps, throughput, memory, loss history, processes)."""
    from spanbert_reader.modeling import load_tokenizer
    from spanbert_reader.modeling.pretraining import SpanBertForPreTraining

    if not 0 < config.mask_ratio < 1:
        raise ValueError(f"mask_ratio must be between 0 and 1 (exclusive), got {config.mask_ratio}")
    run = start_run(config)
    accelerator = run.accelerator
    if documents is None:
        if not config.corpus:
            raise ValueError("pass corpus paths or the documents to pre-train on")
        documents = read_corpus(config.corpus)
    if not documents:
        raise ValueError("the corpus holds no text")
    model = SpanBertForPreTraining.from_encoder(config.model)
    tokenizer = load_tokenizer(config.model)
    if config.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {config.max_seq_length} exceeds the model's "
                         f"{model.config.max_position_embeddings} positions")
    if config.gradient_checkpointing:
        model.bert.encoder.gradient_checkpointing = True
    model.train()
    blocks = make_blocks(documents, tokenizer, config.max_seq_length)
    if not blocks:
        raise ValueError("the corpus yields no block of more than one token")
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id}
    # each process masks its own batches; a per-process seed keeps them from drawing the same masks
    masker = SpanMasker(tokenizer.mask_token_id, model.config.vocab_size, special, config.mask_ratio,
                        seed=config.seed + accelerator.process_index)
    plan = make_plan(config, len(blocks), run.processes, run.per_device, run.accumulation)
    loader, sampler = make_loader(blocks, [b.input_ids.shape[0] for b in blocks], run.per_device, config.seed,
                                  lambda items: collate_masked(items, masker, tokenizer.pad_token_id))
    model, optimizer, scheduler, loader = prepare_optimisation(run, config, model, loader, plan)

    def compute_loss(batch: dict[str, torch.Tensor]):
        out = model(**batch)
        return out.loss, {"mlm": out.mlm, "sbo": out.sbo}

    state = LoopState()
    stats = run_loop(accelerator, model, optimizer, scheduler, loader, sampler, compute_loss,
                     total_steps=plan.total_steps, state=state, max_grad_norm=config.max_grad_norm,
                     desc="Pre-training", progress=config.progress)
    output = Path(config.output)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).bert.save_pretrained(output, tokenizer=tokenizer)
    summary = run_summary(run, model, stats, state, plan, config, documents=len(documents), blocks=len(blocks))
    if accelerator.is_main_process:
        (output / "pretraining_log.json").write_text(json.dumps(summary, indent=2))
    accelerator.wait_for_everyone()
    return summary
