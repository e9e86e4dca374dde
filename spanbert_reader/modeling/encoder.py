"""The BERT-architecture encoder SpanBERT uses: embeddings and post-LayerNorm transformer layers.

Module and parameter names mirror Hugging Face's ``BertModel`` (``embeddings.word_embeddings``,
``encoder.layer.N.attention.self.query`` ...) so checkpoints map one to one; the code itself is written
from scratch and reads top to bottom. Attention runs through
:func:`torch.nn.functional.scaled_dot_product_attention`, which picks the fastest kernel for the device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spanbert_reader.modeling.checkpoint import fill_module, finish_loading, read_checkpoint, write_checkpoint
from spanbert_reader.modeling.config import SpanBertConfig

logger = logging.getLogger(__name__)


def activation(name: str):
    """The activation function called ``name`` in a BERT config."""
    if name == "gelu":
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"unsupported activation {name!r}")


class Embeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout. A checkpoint with one segment type
    (``type_vocab_size`` 1, e.g. BERT-architecture encoders with an XLM-R vocabulary) reads every segment id as 0."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                position_ids: torch.Tensor) -> torch.Tensor:
        if self.token_type_embeddings.num_embeddings == 1:
            token_type_ids = torch.zeros_like(token_type_ids)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class SelfAttentionProjections(nn.Module):
    """Query, key and value projections (``attention.self`` in BERT checkpoints)."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The query, key and value projections of ``x`` (each shaped like ``x``)."""
        return self.query(x), self.key(x), self.value(x)

    def stacked_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The three weights stacked (query, key, value rows) and their biases (zeros where one has none)."""
        parts = (self.query, self.key, self.value)
        biases = [p.bias if p.bias is not None else torch.zeros(p.out_features, device=p.weight.device)
                  for p in parts]
        return torch.cat([p.weight for p in parts]).detach(), torch.cat(biases).detach()


class FusedProjections(nn.Module):
    """Query, key and value as one product: ``fused`` maps hidden -> 3 x hidden (made from
    :meth:`SelfAttentionProjections.stacked_parameters`); same interface as :class:`SelfAttentionProjections`.
    Inference only (the int8 and oneDNN CPU paths)."""

    def __init__(self, fused: nn.Module) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.fused(x).chunk(3, dim=-1)
        return q, k, v


def replace_linears(module: nn.Module, make_linear: Callable[[nn.Linear], nn.Module],
                    make_projections: Callable[[SelfAttentionProjections], nn.Module],
                    accept: Callable[[nn.Linear], bool] | None = None) -> int:
    """Replace, in place, every ``nn.Linear`` under ``module`` that ``accept`` takes (all, when None) by
    ``make_linear(linear)``, and the in-repo attention's query/key/value, when all three are taken, by
    ``make_projections(projections)`` (one fused product); returns how many Linear layers were replaced. The
    int8 and oneDNN CPU paths build their encoders with it."""

    def taken(*linears: nn.Module) -> bool:
        return all(type(linear) is nn.Linear and (accept is None or accept(linear)) for linear in linears)

    replaced = 0
    for parent in list(module.modules()):
        if isinstance(parent, SelfAttentionProjections):
            continue  # replaced whole by its parent's turn
        for name, child in list(parent.named_children()):
            if isinstance(child, SelfAttentionProjections):
                if taken(child.query, child.key, child.value):
                    setattr(parent, name, make_projections(child))
                    replaced += 3
            elif taken(child):
                setattr(parent, name, make_linear(child))
                replaced += 1
    return replaced


class DenseLayerNorm(nn.Module):
    """``LayerNorm(dense(x) + residual)``: the output block after attention and after the feed-forward."""

    def __init__(self, d_in: int, d_out: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.LayerNorm = nn.LayerNorm(d_out, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


@dataclass
class PackedLayout:
    """Where each sequence lies in a packed (total_tokens, hidden) batch: ``cu_seqlens`` = [0, l0, l0+l1, ...]."""

    cu_seqlens: torch.Tensor  # (B + 1,) int32 on the model's device
    lengths: list[int]
    max_length: int

    @classmethod
    def from_lengths(cls, lengths: list[int], device: torch.device) -> PackedLayout:
        offsets = [0]
        for length in lengths:
            offsets.append(offsets[-1] + length)
        return cls(torch.tensor(offsets, dtype=torch.int32, device=device), list(lengths), max(lengths))


def _varlen_attention():
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:  # older PyTorch
        return None
    return varlen_attn


def packed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """Attention over packed sequences (T, heads, head_dim), each attending only to itself.

    On CUDA in fp16/bf16 this is PyTorch's variable-length flash attention; elsewhere one SDPA call per
    sequence (no padding is ever computed).
    """
    # only looked up where it can run: importing it loads torch._dynamo (about 2 s of a cold CPU start)
    varlen = _varlen_attention() if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) else None
    if varlen is not None:
        cu = layout.cu_seqlens
        return varlen(q, k, v, cu, cu, layout.max_length, layout.max_length)
    outputs = []
    start = 0
    for length in layout.lengths:
        stop = start + length
        # (l, heads, d) -> (1, heads, l, d)
        qs, ks, vs = (t[start:stop].transpose(0, 1).unsqueeze(0) for t in (q, k, v))
        outputs.append(F.scaled_dot_product_attention(qs, ks, vs).squeeze(0).transpose(0, 1))
        start = stop
    return torch.cat(outputs, dim=0)


class Attention(nn.Module):
    """Multi-head self-attention with BERT's post-LayerNorm residual block."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.dropout_p = config.attention_probs_dropout_prob
        self.self = SelfAttentionProjections(config)
        self.output = DenseLayerNorm(config.hidden_size, config.hidden_size, config.layer_norm_eps,
                                     config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | PackedLayout | None) -> torch.Tensor:
        if isinstance(mask, PackedLayout):
            return self._forward_packed(x, mask)
        batch, length, hidden = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, L, H) -> (B, heads, L, head_dim)
            return t.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = (heads(t) for t in self.self(x))
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0
        )
        context = context.transpose(1, 2).reshape(batch, length, hidden)
        return self.output(context, x)

    def _forward_packed(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        total, hidden = x.shape
        q, k, v = (t.view(total, self.num_heads, self.head_dim) for t in self.self(x))
        context = packed_attention(q, k, v, layout).reshape(total, hidden)
        return self.output(context, x)


class Layer(nn.Module):
    """One transformer layer: attention block, then the feed-forward block (both post-LayerNorm)."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = DenseLayerNorm(config.intermediate_size, config.hidden_size, config.layer_norm_eps,
                                     config.hidden_dropout_prob)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | PackedLayout | None) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(self.act(self.intermediate.dense(x)), x)


class Encoder(nn.Module):
    """The stack of transformer layers."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor | PackedLayout | None) -> torch.Tensor:
        """Run every layer; ``mask`` is an additive attention mask (padded batches) or a :class:`PackedLayout`."""
        for layer in self.layer:
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, mask, use_reentrant=False)
            else:
                x = layer(x, mask)
        return x


class Pooler(nn.Module):
    """BERT's pooler (dense + tanh over [CLS]); kept so base checkpoints round-trip unchanged."""

    def __init__(self, config: SpanBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


def attention_mask_for_sdpa(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Turn a (B, L) 1/0 padding mask into the additive (B, 1, 1, L) mask SDPA takes (None if no padding)."""
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must have shape (batch, length), got {tuple(attention_mask.shape)}")
    if bool(attention_mask.all()):
        return None
    keep = attention_mask[:, None, None, :].to(torch.bool)
    additive = torch.zeros(keep.shape, dtype=dtype, device=attention_mask.device)
    return additive.masked_fill(~keep, torch.finfo(dtype).min)


class SpanBertModel(nn.Module):
    """SpanBERT / BERT encoder: ``forward`` returns the last hidden states, shape (batch, length, hidden).

    Example:
        >>> model = SpanBertModel(SpanBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                                      num_attention_heads=4, intermediate_size=64))
        >>> model(torch.tensor([[2, 5, 7, 3]])).shape
        torch.Size([1, 4, 32])
    """

    base_model_prefix = "bert"

    def __init__(self, config: SpanBertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config) if add_pooling_layer else None
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a batch. ``attention_mask`` is 1 for real tokens, 0 for padding; both default to all-ones/0."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
        length = input_ids.shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings "
                f"({self.config.max_position_embeddings}) of this model"
            )
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        position_ids = torch.arange(length, device=input_ids.device).unsqueeze(0)
        x = self.embeddings(input_ids, token_type_ids, position_ids)
        mask = attention_mask_for_sdpa(attention_mask, x.dtype)
        return self.encoder(x, mask)

    def forward_packed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, position_ids: torch.Tensor,
                       layout: PackedLayout) -> torch.Tensor:
        """Encode sequences packed end to end without padding: inputs (T,), output (T, hidden).

        Same results as :meth:`forward` on the padded batch (within float tolerance), but no work is spent on
        padding tokens: dense layers run on the real tokens only, attention per sequence.
        """
        if input_ids.dim() != 1:
            raise ValueError(f"packed input_ids must have shape (total_tokens,), got {tuple(input_ids.shape)}")
        if layout.max_length > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {layout.max_length} exceeds max_position_embeddings "
                f"({self.config.max_position_embeddings}) of this model"
            )
        x = self.embeddings(input_ids, token_type_ids, position_ids)
        return self.encoder(x, layout)

    def pool(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The pooled [CLS] vector (needs the pooling layer)."""
        if self.pooler is None:
            raise RuntimeError("this model was built without a pooling layer")
        return self.pooler(hidden_states)

    @property
    def device(self) -> torch.device:
        return self.embeddings.word_embeddings.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.word_embeddings.weight.dtype

    @classmethod
    def from_pretrained(cls, path_or_id: str, *, token: str | None = None, revision: str | None = None,
                        dtype: torch.dtype | None = None, device: str | torch.device | None = None) -> SpanBertModel:
        """Load an encoder from a local folder or hub id holding a BERT-format checkpoint (QA heads ignored)."""
        checkpoint = read_checkpoint(path_or_id, token=token, revision=revision)
        model = cls(checkpoint.config)
        if fill_module(model, checkpoint.encoder, checkpoint.where, optional_prefixes=("pooler.",)):
            logger.info("Checkpoint at %s has no pooler weights; the pooler was freshly initialised.",
                        checkpoint.where)
        return finish_loading(model, checkpoint, dtype, device)

    def save_pretrained(self, directory, tokenizer=None) -> None:
        """Write ``config.json`` + ``model.safetensors`` (+ tokenizer files) that transformers' AutoModel loads."""
        write_checkpoint(self, directory, "BertModel", tokenizer=tokenizer)


def init_linear_like_bert(module: nn.Linear, std: float) -> None:
    """Initialise a freshly added linear layer the way BERT does (normal(0, std), zero bias)."""
    nn.init.normal_(module.weight, mean=0.0, std=std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


__all__ = ["SpanBertModel", "Embeddings", "Layer", "Encoder", "PackedLayout", "activation",
           "init_linear_like_bert", "packed_attention"]
