"""Inference core (no Haystack): windows, batching, span decoding, answer ranking and the engine that ties them."""

from spanbert_reader.inference.answers import FusionSettings, rank_answers
from spanbert_reader.inference.decoding import CharSpan, DecodeSettings, TokenSpan
from spanbert_reader.inference.engine import ExtractiveQA, QueryPrediction
from spanbert_reader.inference.windows import WindowSettings

__all__ = ["CharSpan", "DecodeSettings", "ExtractiveQA", "FusionSettings", "QueryPrediction", "TokenSpan",
           "WindowSettings", "rank_answers"]
