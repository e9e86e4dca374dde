"""Shared-normalisation fine-tuning (Clark & Gardner 2018): one softmax over the start (and end) positions of all
windows of all passages of a question, so span logits become comparable across passages.

Each training question is read with its gold paragraph plus ``distractors`` paragraphs of the training set
retrieved by BM25 (random ones fill up when BM25 finds too few). The gold span's positions in every window that
holds it are the targets; windows without the answer only add to the shared normaliser. Impossible questions
(and answers no window holds whole) target the ``[CLS]`` positions of all windows.

With ``negatives``, that share of the questions is also read over its distractors alone, as an impossible group:
the null logit then learns "the answer is not in these passages", the commonest failure of open-domain QA (a
question whose distractors contain one of its answer texts, as answer recall counts it, is not used as a negative).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spanbert_reader.data.squad import SquadExample
from spanbert_reader.data.text import answer_occurs
from spanbert_reader.inference.windows import WindowSettings, WindowTokenizer, pad_windows
from spanbert_reader.training.features import UNLOCATABLE, TrainFeature, answer_tokens, window_target


@dataclass
class GroupFeature:
    """All windows of one question's passages; targets as positions (-1: none in this window)."""

    windows: list[TrainFeature]
    impossible: bool

    @property
    def length(self) -> int:
        return sum(w.length for w in self.windows)


def bm25_distractors(examples: Sequence[SquadExample], count: int, seed: int) -> list[list[str]]:
    """For each example, ``count`` other paragraphs of the set: BM25 over the question, random ones to fill up."""
    from haystack import Document
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    contexts = list(dict.fromkeys(e.context for e in examples))
    if count <= 0:
        return [[] for _ in examples]
    store = InMemoryDocumentStore()
    store.write_documents([Document(content=c) for c in contexts])
    rng = random.Random(seed)
    result = []
    for example in examples:
        found = [d.content for d in store.bm25_retrieval(example.question, top_k=count + 1)
                 if d.content != example.context and d.score]
        found = list(dict.fromkeys(found))[:count]
        pool = [c for c in contexts if c != example.context and c not in found]
        found += rng.sample(pool, min(len(pool), count - len(found)))
        result.append(found)
    return result


def build_group_features(examples: Sequence[SquadExample], distractors: Sequence[Sequence[str]],
                         tokenizer: WindowTokenizer, settings: WindowSettings, negatives: float = 0.0,
                         seed: int = 0) -> tuple[list[GroupFeature], int]:
    """One group per question (gold paragraph first), plus for a ``negatives`` share of the questions a group of
    their distractors alone targeting "no answer"; returns (groups, questions skipped: answer not locatable)."""
    texts = list(dict.fromkeys([e.context for e in examples] + [c for group in distractors for c in group]))
    tokenized = dict(zip(texts, tokenizer.tokenize(texts), strict=True))
    queries = tokenizer.tokenize([e.question for e in examples])
    groups: list[GroupFeature] = []
    skipped = 0
    rng = random.Random(seed)
    for example, query, others in zip(examples, queries, distractors, strict=True):
        target = answer_tokens(example, tokenized[example.context].offsets)
        if target is UNLOCATABLE:
            skipped += 1
            continue
        windows: list[TrainFeature] = []
        distractor_windows: list[TrainFeature] = []  # targetless: they also make the negative group
        for index, text in enumerate([example.context, *others]):
            for window in tokenizer.windows(0, query.ids, tokenized[text], settings):
                found = window_target(window, target) if index == 0 else None
                start_position, end_position = found or (-1, -1)
                feature = TrainFeature(window.input_ids, window.passage_offset, start_position, end_position)
                windows.append(feature)
                if index:
                    distractor_windows.append(feature)
        if windows:
            impossible = target is None or all(w.start_position < 0 for w in windows)
            groups.append(GroupFeature(windows, impossible))
        if (distractor_windows and negatives and rng.random() < negatives
                and not answer_occurs(example.answers, others)):
            groups.append(GroupFeature(distractor_windows, True))
    return groups, skipped


def collate_groups(groups: list[GroupFeature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad all windows of the groups to the longest; ``group`` maps each window to its question; target masks
    mark the positions the shared softmax should put its mass on."""
    windows = [w for g in groups for w in g.windows]
    ids, mask, types = pad_windows(windows, pad_id)
    valid = np.zeros(ids.shape, dtype=bool)  # passage tokens and [CLS]: where a start or end may be
    starts = np.zeros(ids.shape, dtype=bool)
    ends = np.zeros(ids.shape, dtype=bool)
    group_ids = []
    row = 0
    for number, group in enumerate(groups):
        for w in group.windows:
            valid[row, 0] = True
            valid[row, w.passage_offset: w.length - 1] = True  # the final [SEP] is no answer token
            if group.impossible:
                starts[row, 0] = ends[row, 0] = True
            elif w.start_position >= 0:
                starts[row, w.start_position] = ends[row, w.end_position] = True
            group_ids.append(number)
            row += 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "token_type_ids": torch.from_numpy(types), "valid": torch.from_numpy(valid),
            "start_targets": torch.from_numpy(starts), "end_targets": torch.from_numpy(ends),
            "group": torch.tensor(group_ids)}


def _shared_nll(logits: torch.Tensor, valid: torch.Tensor, targets: torch.Tensor, group: torch.Tensor,
                n_groups: int) -> torch.Tensor:
    """Mean over groups of ``logsumexp(all valid positions) - logsumexp(target positions)``."""
    logits = logits.float()
    everything = torch.logsumexp(logits.masked_fill(~valid, -1e4), dim=1)  # (windows,)
    wanted = torch.logsumexp(logits.masked_fill(~targets, -1e4), dim=1)
    has_target = targets.any(dim=1)
    losses = []
    for number in range(n_groups):
        rows = group == number
        total = torch.logsumexp(everything[rows], dim=0)
        gold = torch.logsumexp(wanted[rows & has_target], dim=0)
        losses.append(total - gold)
    return torch.stack(losses).mean()


def shared_norm_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean of the shared-softmax start and end negative log-likelihoods over the batch's questions."""
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    n_groups = int(batch["group"].max()) + 1
    start = _shared_nll(out.start_logits, batch["valid"], batch["start_targets"], batch["group"], n_groups)
    end = _shared_nll(out.end_logits, batch["valid"], batch["end_targets"], batch["group"], n_groups)
    return (start + end) / 2
