"""Inference core (no Haystack): windows, batching, span decoding and the engine that ties them."""

from spanbert_reader.inference.decoding import CharSpan, DecodeSettings, TokenSpan, select_answers
from spanbert_reader.inference.engine import ExtractiveQA, QueryPrediction
from spanbert_reader.inference.windows import WindowSettings

__all__ = ["CharSpan", "DecodeSettings", "ExtractiveQA", "QueryPrediction", "TokenSpan", "WindowSettings",
           "select_answers"]
