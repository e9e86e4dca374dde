"""Task heads on top of the encoder: span (QA) head, masked-LM head and span-boundary (SBO) head."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from spanbert_reader.modeling.checkpoint import (
    CheckpointError,
    fill_module,
    finish_loading,
    read_checkpoint,
    write_checkpoint,
)
from spanbert_reader.modeling.config import SpanBertConfig
from spanbert_reader.modeling.encoder import SpanBertModel, activation, init_linear_like_bert

logger = logging.getLogger(__name__)


@dataclass
class SpanLogits:
    """Start and end logits of a span head, each of shape (batch, length)."""

    start_logits: torch.Tensor
    end_logits: torch.Tensor


class SpanBertForQuestionAnswering(nn.Module):
    """Encoder + span head ``Linear(hidden, 2)``; ``forward`` returns :class:`SpanLogits`.

    Parameter names match transformers' ``BertForQuestionAnswering`` (``bert.*``, ``qa_outputs.*``).

    Example:
        >>> cfg = SpanBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        ...                      intermediate_size=64)
        >>> out = SpanBertForQuestionAnswering(cfg)(torch.tensor([[2, 5, 3, 7, 8, 3]]))
        >>> out.start_logits.shape
        torch.Size([1, 6])
    """

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = SpanBertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        init_linear_like_bert(self.qa_outputs, config.initializer_range)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> SpanLogits:
        """Start/end logits for every token; computed in float32 whatever the encoder's precision."""
        hidden = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.span_logits(hidden)

    def forward_packed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, position_ids: torch.Tensor,
                       layout) -> SpanLogits:
        """Start/end logits for packed sequences (see :meth:`SpanBertModel.forward_packed`); shapes (T,)."""
        return self.span_logits(self.bert.forward_packed(input_ids, token_type_ids, position_ids, layout))

    def span_logits(self, hidden: torch.Tensor) -> SpanLogits:
        """Apply the span head to hidden states (float32, so decoding is stable in bf16/fp16 models)."""
        weight, bias = self.qa_outputs.weight, self.qa_outputs.bias
        logits = torch.nn.functional.linear(hidden.float(), weight.float(), bias.float())
        start, end = logits.unbind(-1)
        return SpanLogits(start.contiguous(), end.contiguous())

    @property
    def device(self) -> torch.device:
        return self.bert.device

    @property
    def dtype(self) -> torch.dtype:
        return self.bert.dtype

    @classmethod
    def from_pretrained(cls, path_or_id: str, *, token: str | None = None, revision: str | None = None,
                        require_qa_head: bool = False, dtype: torch.dtype | None = None,
                        device: str | torch.device | None = None) -> SpanBertForQuestionAnswering:
        """Load a BERT/SpanBERT checkpoint (QA fine-tune or base model) from a folder or hub id.

        A base checkpoint gets a freshly initialised span head and a warning that it needs fine-tuning;
        pass ``require_qa_head=True`` to make that an error instead.
        """
        checkpoint = read_checkpoint(path_or_id, token=token, revision=revision)
        config, where = checkpoint.config, checkpoint.where
        model = cls(config)
        fill_module(model.bert, checkpoint.encoder, where)
        head = {k[len("qa_outputs."):]: v for k, v in checkpoint.heads.items() if k.startswith("qa_outputs.")}
        if head:
            if head.get("weight") is not None and tuple(head["weight"].shape) != (2, config.hidden_size):
                raise CheckpointError(
                    f"Checkpoint at {where} has a qa_outputs.weight of shape {tuple(head['weight'].shape)}; "
                    f"expected (2, {config.hidden_size}) for a start/end span head."
                )
            fill_module(model.qa_outputs, head, where)
        elif require_qa_head:
            raise CheckpointError(
                f"Checkpoint at {where} has no weight 'qa_outputs.weight'; it is a base model — fine-tune it with "
                "`spanbert-qa train` or pass a QA checkpoint."
            )
        else:
            logger.warning(
                "Checkpoint at %s has no span (QA) head: a freshly initialised one was added. Its answers are "
                "meaningless until the model is fine-tuned (`spanbert-qa train`).", where,
            )
        return finish_loading(model, checkpoint, dtype, device)

    def save_pretrained(self, directory, tokenizer=None) -> None:
        """Write files that ``transformers.AutoModelForQuestionAnswering`` loads without warnings."""
        write_checkpoint(self, directory, "BertForQuestionAnswering", tokenizer=tokenizer)


class MaskedLMHead(nn.Module):
    """BERT's MLM head: dense + activation + LayerNorm, then a decoder tied to the word embeddings."""

    def __init__(self, config: SpanBertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)
        self.word_embeddings = word_embeddings  # tied decoder weight
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        init_linear_like_bert(self.transform.dense, config.initializer_range)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.transform.LayerNorm(self.act(self.transform.dense(hidden)))
        return h @ self.word_embeddings.weight.t() + self.bias


class SpanBoundaryHead(nn.Module):
    """SpanBERT's span boundary objective (SBO) head.

    For a masked span ``x_s..x_e`` the token at relative position ``i`` is predicted from the boundary
    hidden states and a relative-position embedding: ``[h_{s-1}; h_{e+1}; p_i]`` →
    ``Linear(2H+P→H)`` · GeLU · LayerNorm · ``Linear(H→H)`` · GeLU · LayerNorm → decoder tied to the word
    embeddings (+ bias). ``P`` is ``position_dim`` (200) and at most ``max_targets`` (15) positions per span.
    """

    def __init__(self, config: SpanBertConfig, word_embeddings: nn.Embedding, position_dim: int = 200,
                 max_targets: int = 15) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.max_targets = max_targets
        self.position_embeddings = nn.Embedding(max_targets, position_dim)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden + position_dim, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=config.layer_norm_eps),
            nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=config.layer_norm_eps),
        )
        self.word_embeddings = word_embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        nn.init.normal_(self.position_embeddings.weight, std=config.initializer_range)
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                init_linear_like_bert(module, config.initializer_range)

    def forward(self, hidden: torch.Tensor, left: torch.Tensor, right: torch.Tensor,
                offsets: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits for each target.

        Args:
            hidden: encoder output (B, L, H).
            left, right: (T,) positions of the tokens just before and after each target's span.
            offsets: (T,) position of each target inside its span (0-based, < max_targets).
            batch_index: (T,) row of ``hidden`` each target belongs to.
        Returns:
            (T, vocab) logits.
        """
        if offsets.numel() and int(offsets.max()) >= self.max_targets:
            raise ValueError(f"span position {int(offsets.max())} exceeds max_targets={self.max_targets}")
        features = torch.cat(
            [hidden[batch_index, left], hidden[batch_index, right], self.position_embeddings(offsets)], dim=-1
        )
        return self.mlp(features) @ self.word_embeddings.weight.t() + self.bias
