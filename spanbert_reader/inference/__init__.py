"""Inference core (no Haystack): windows, batching, span decoding, ranking, and the reader that ties them."""

from spanbert_reader.inference.decoding import CharSpan, DecodeSettings, TokenSpan
from spanbert_reader.inference.engine import ExtractiveQA, QueryPrediction
from spanbert_reader.inference.ranking import FusionSettings, rank_answers, rerank
from spanbert_reader.inference.reader import ReaderAnswer, SpanReader
from spanbert_reader.inference.settings import RankSettings, RuntimeSettings, ScoringSettings
from spanbert_reader.inference.windows import WindowSettings

__all__ = ["CharSpan", "DecodeSettings", "ExtractiveQA", "FusionSettings", "QueryPrediction", "RankSettings",
           "ReaderAnswer", "RuntimeSettings", "ScoringSettings", "SpanReader", "TokenSpan", "WindowSettings",
           "rank_answers", "rerank"]
