"""Extractive QA over many (query, passages) groups: windows → length-sorted batches → span decoding.

This is the inference core the Haystack component, the evaluation and training's dev evaluation share. It
knows nothing of Haystack: passages are plain strings and answers are character spans into them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from spanbert_reader.inference.batching import WindowRunner
from spanbert_reader.inference.decoding import CharSpan, DecodeSettings, PassageDecoder, to_char_spans
from spanbert_reader.inference.windows import TokenizedText, Window, WindowSettings, WindowTokenizer

logger = logging.getLogger(__name__)


@dataclass
class QueryPrediction:
    """Answers for one query: character spans, the passages they point into, and what the no-answer rule needs.

    From :meth:`ExtractiveQA.predict`, ``spans`` holds every candidate (identical spans merged), best reader
    logit first, with ``score == logit``; :func:`spanbert_reader.inference.ranking.rerank` ranks them under
    fusion settings. ``passages`` are the texts the spans index into and ``retriever_scores`` their retriever
    scores (None: none given). ``best_logit`` is the best *reader-only* span logit over all candidates (the
    no-answer rule compares it with ``null_logit``, so fusion never moves a tuned threshold). ``null_logit`` is
    the minimum ``[CLS]`` start+end logit over all windows of all passages (None when no passage produced a
    window); ``passage_null_logits[i]`` is that minimum for passage ``i`` alone. ``query`` is the question read
    (calibration compares it with the answer's passage).
    """

    spans: list[CharSpan]
    null_logit: float | None
    passage_null_logits: list[float | None] = field(default_factory=list)
    best_logit: float | None = None
    passages: Sequence[str] = ()
    retriever_scores: Sequence[float | None] | None = None
    query: str = ""

    @property
    def null_odds(self) -> float:
        """SQuAD's no-answer odds ``null_logit - best_logit`` (1e9 when there is no span, -1e9 without a null)."""
        if self.best_logit is None:
            return 1e9
        if self.null_logit is None:
            return -1e9
        return self.null_logit - self.best_logit

    @property
    def best_text(self) -> str:
        """Text of the first span, "" when there is none."""
        if not self.spans:
            return ""
        best = self.spans[0]
        return self.passages[best.passage][best.start: best.end]

    def first(self, k: int) -> QueryPrediction:
        """The prediction from the first ``k`` passages only (exact while ``spans`` holds every candidate)."""
        nulls = self.passage_null_logits[:k]
        present = [n for n in nulls if n is not None]
        spans = [s for s in self.spans if s.passage < k]
        scores = None if self.retriever_scores is None else list(self.retriever_scores[:k])
        return QueryPrediction(spans, min(present) if present else None, nulls,
                               max((s.logit for s in spans), default=None), list(self.passages[:k]), scores,
                               self.query)


class ExtractiveQA:
    """Answers queries from passages with a span model and a fast tokenizer.

    Args:
        model: a module returning ``start_logits`` / ``end_logits`` for
            ``(input_ids, attention_mask, token_type_ids)``; e.g. :class:`SpanBertForQuestionAnswering`.
        tokenizer: the checkpoint's fast tokenizer.
        device: where the model lives.
        windows: how passages are cut into windows.
        decode: decoding limits.
        batch_size: windows per forward pass.
        max_tokens_per_batch: optional padded-token budget per forward pass.
        use_token_type_ids: pass segment ids (question 0, passage 1), as BERT models are fine-tuned.
        windows_per_chunk: windows built at a time; bounds host memory for very large inputs.
        packed: run batches unpadded (default when the model supports it); False pads per batch.
        pad_to_multiple: pad each batch's length up to a multiple of this (few shapes for ``torch.compile``).
        cpu_workers: on the CPU, single-threaded passes run side by side per batch (None: torch's thread count;
            1: one pass on torch's thread pool); see :mod:`spanbert_reader.inference.cpu_workers`.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device | str = "cpu",
                 windows: WindowSettings | None = None, decode: DecodeSettings | None = None,
                 batch_size: int = 32, max_tokens_per_batch: int | None = None,
                 use_token_type_ids: bool = True, windows_per_chunk: int = 4096,
                 packed: bool | None = None, pad_to_multiple: int | None = None,
                 cpu_workers: int | None = None) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.window_tokenizer = WindowTokenizer(tokenizer)
        self.windows = windows or WindowSettings()
        self.decode = decode or DecodeSettings()
        self.batch_size = batch_size
        self.max_tokens_per_batch = max_tokens_per_batch
        self.windows_per_chunk = windows_per_chunk
        self.runner = WindowRunner(model, torch.device(device), self.window_tokenizer.pad_id, use_token_type_ids,
                                   packed=packed, pad_to_multiple=pad_to_multiple, cpu_workers=cpu_workers)
        self._lock = threading.Lock()  # one forward pass at a time per model

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        """Tokenise texts with offsets (identical texts are tokenised once)."""
        unique = list(dict.fromkeys(texts))
        encoded = dict(zip(unique, self.window_tokenizer.tokenize(unique), strict=True))
        return [encoded[t] for t in texts]

    def predict(self, queries: Sequence[str], passages: Sequence[Sequence[str]],
                windows: WindowSettings | None = None, decode: DecodeSettings | None = None,
                progress: Callable[[int], None] | None = None,
                retriever_scores: Sequence[Sequence[float | None]] | None = None) -> list[QueryPrediction]:
        """Every candidate span for each ``queries[i]`` from ``passages[i]`` (see :class:`QueryPrediction`);
        windows of all queries share batches. ``retriever_scores[i][j]`` is the retriever's score of
        ``passages[i][j]`` (None: none), kept on the prediction for ranking.

        Work is done in chunks of about ``windows_per_chunk`` windows (bounded memory); the next chunk is
        tokenised in a worker thread while the model runs on the current one. ``progress``, when given, is
        called with the number of queries finished after each chunk.
        """
        from concurrent.futures import ThreadPoolExecutor

        if len(queries) != len(passages):
            raise ValueError(f"got {len(queries)} queries but {len(passages)} passage lists")
        window_settings = windows or self.windows
        decode_settings = decode or self.decode
        results: list[QueryPrediction | None] = [None] * len(queries)
        query_tokens = self.window_tokenizer.tokenize(list(queries))
        chunks: list[list[int]] = []
        chunk: list[int] = []
        estimate = 0
        for index, group in enumerate(passages):
            chunk.append(index)
            estimate += sum(1 + len(p) // 1000 for p in group)  # cheap window estimate before tokenising
            if estimate >= self.windows_per_chunk:
                chunks.append(chunk)
                chunk, estimate = [], 0
        if chunk:
            chunks.append(chunk)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._prepare_chunk, chunks[0], query_tokens, passages, window_settings) \
                if chunks else None
            for number, current in enumerate(chunks):
                prepared = pending.result()
                pending = pool.submit(self._prepare_chunk, chunks[number + 1], query_tokens, passages,
                                      window_settings) if number + 1 < len(chunks) else None
                self._run_chunk(current, prepared, decode_settings, results, passages, retriever_scores, queries)
                if progress:
                    progress(len(current))
        return [r for r in results if r is not None]

    def _prepare_chunk(self, chunk: list[int], query_tokens: list[TokenizedText],
                       passages: Sequence[Sequence[str]], window_settings: WindowSettings
                       ) -> tuple[list[tuple[int, int]], list[TokenizedText], list[Window]]:
        items: list[tuple[int, int]] = []  # (query index, passage index within its group)
        texts: list[str] = []
        for q in chunk:
            for p, text in enumerate(passages[q]):
                items.append((q, p))
                texts.append(text)
        tokenized = self.tokenize(texts)
        all_windows: list[Window] = []
        for item, ((q, _), passage) in enumerate(zip(items, tokenized, strict=True)):
            all_windows.extend(self.window_tokenizer.windows(item, query_tokens[q].ids, passage, window_settings))
        return items, tokenized, all_windows

    def _run_chunk(self, chunk: list[int],
                   prepared: tuple[list[tuple[int, int]], list[TokenizedText], list[Window]],
                   decode_settings: DecodeSettings, results: list[QueryPrediction | None],
                   passages: Sequence[Sequence[str]],
                   retriever_scores: Sequence[Sequence[float | None]] | None, queries: Sequence[str]) -> None:
        items, tokenized, all_windows = prepared
        decoder = PassageDecoder(len(items), decode_settings)
        with self._lock:
            for batch in self.runner.run(all_windows, self.batch_size, self.max_tokens_per_batch):
                for row, window_index in enumerate(batch.indices):
                    decoder.add(all_windows[window_index], batch.start_logits[row], batch.end_logits[row])
        per_query: dict[int, list[int]] = {}
        for item, (q, _) in enumerate(items):
            per_query.setdefault(q, []).append(item)
        for q in chunk:
            best: dict[tuple[int, int, int], CharSpan] = {}
            nulls: list[float | None] = []
            for item in per_query.get(q, []):
                passage_index = items[item][1]
                text = passages[q][passage_index]
                for span in to_char_spans(passage_index, decoder.spans(item), tokenized[item].offsets):
                    if "\n\n" in text[span.start: span.end]:
                        continue  # an answer never crosses a paragraph break (a heading and its text, say)
                    key = (span.passage, span.start, span.end)
                    if key not in best or span.logit > best[key].logit:
                        best[key] = span
                nulls.append(decoder.null_logit(item))
            present = [n for n in nulls if n is not None]
            spans = sorted(best.values(), key=lambda s: -s.logit)
            scores = None if retriever_scores is None else list(retriever_scores[q])
            results[q] = QueryPrediction(spans, min(present) if present else None, nulls,
                                         spans[0].logit if spans else None, list(passages[q]), scores,
                                         queries[q])
