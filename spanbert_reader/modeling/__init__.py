"""Pure-PyTorch SpanBERT: config, encoder, task heads, checkpoint I/O and tokenizer loading (no Haystack)."""

from spanbert_reader.modeling.auto import TransformersQA, load_qa_model
from spanbert_reader.modeling.checkpoint import CheckpointError
from spanbert_reader.modeling.config import SpanBertConfig
from spanbert_reader.modeling.encoder import SpanBertModel
from spanbert_reader.modeling.heads import (
    MaskedLMHead,
    SpanBertForQuestionAnswering,
    SpanBoundaryHead,
    SpanLogits,
)
from spanbert_reader.modeling.tokenizer import load_tokenizer, vocab_is_cased

__all__ = [
    "CheckpointError",
    "MaskedLMHead",
    "SpanBertConfig",
    "SpanBertForQuestionAnswering",
    "SpanBertModel",
    "SpanBoundaryHead",
    "SpanLogits",
    "TransformersQA",
    "load_qa_model",
    "load_tokenizer",
    "vocab_is_cased",
]
