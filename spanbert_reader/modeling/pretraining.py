"""SpanBERT's pre-training model: encoder + masked-LM head + span boundary (SBO) head, decoders tied to the word
embeddings; loss = MLM mean + SBO mean. No next-sentence prediction."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spanbert_reader.modeling.config import SpanBertConfig
from spanbert_reader.modeling.encoder import SpanBertModel
from spanbert_reader.modeling.heads import MaskedLMHead, SpanBoundaryHead


@dataclass
class PreTrainingLoss:
    """The two losses and their sum (what is optimised)."""

    loss: torch.Tensor
    mlm: torch.Tensor
    sbo: torch.Tensor


class SpanBertForPreTraining(nn.Module):
    """Encoder with SpanBERT's MLM and SBO heads (both decoders share the word-embedding matrix)."""

    def __init__(self, config: SpanBertConfig, encoder: SpanBertModel | None = None) -> None:
        super().__init__()
        self.config = config
        self.bert = encoder if encoder is not None else SpanBertModel(config)
        embeddings = self.bert.embeddings.word_embeddings
        self.mlm = MaskedLMHead(config, embeddings)
        self.sbo = SpanBoundaryHead(config, embeddings)

    @classmethod
    def from_encoder(cls, path_or_id: str, **kwargs) -> SpanBertForPreTraining:
        """Start from a pretrained encoder checkpoint (fresh MLM/SBO heads)."""
        encoder = SpanBertModel.from_pretrained(path_or_id, **kwargs)
        return cls(encoder.config, encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                sbo_batch: torch.Tensor, sbo_left: torch.Tensor, sbo_right: torch.Tensor, sbo_offsets: torch.Tensor,
                sbo_targets: torch.Tensor) -> PreTrainingLoss:
        """Losses for a masked batch (labels -100 where not masked; SBO tensors list one row per target)."""
        hidden = self.bert(input_ids, attention_mask=attention_mask)
        masked = labels != -100
        mlm_logits = self.mlm(hidden[masked])
        mlm = F.cross_entropy(mlm_logits.float(), labels[masked])
        sbo_logits = self.sbo(hidden, sbo_left, sbo_right, sbo_offsets, sbo_batch)
        sbo = F.cross_entropy(sbo_logits.float(), sbo_targets)
        return PreTrainingLoss(mlm + sbo, mlm.detach(), sbo.detach())
