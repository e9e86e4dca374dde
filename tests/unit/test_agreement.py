"""Our top answer vs. a brute-force decoder over transformers' own logits (same checkpoint, same rules)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from haystack import Document

from spanbert_reader import SpanBERTReader

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "corpus"


def _passages() -> list[str]:
    texts = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix in (".txt", ".md"):
            texts.append(path.read_text(encoding="utf-8").strip())
        elif path.suffix == ".html":
            texts.append(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")).strip())
    return texts


def _queries(passages: list[str]) -> list[str]:
    questions = [json.loads(line)["question"] for line in (CORPUS / "questions.jsonl").read_text().splitlines()]
    sentences = [s for p in passages for s in re.split(r"(?<=\.)\s+", p) if len(s.split()) > 5]
    return questions + [" ".join(s.split()[:7]) + "?" for s in sentences[:12]]


def _brute_force(hf_model, tokenizer, query, passage, max_len, max_query, max_seq, stride):
    """Exhaustive search over every window's spans, logits from transformers, BERT's max-context rule."""
    q_ids = tokenizer(query, add_special_tokens=False)["input_ids"][:max_query]
    full = tokenizer(passage, add_special_tokens=False, return_offsets_mapping=True)
    p_ids, p_offsets = full["input_ids"], full["offset_mapping"]
    capacity = max_seq - len(q_ids) - 3
    starts = [0]
    while starts[-1] + capacity < len(p_ids):
        starts.append(starts[-1] + capacity - stride)

    def context(t, s):
        end = min(s + capacity, len(p_ids))
        return min(t - s, end - 1 - t) + 0.01 * (end - s)

    # the window where each passage token has the most context (ties: the earlier window)
    owner = np.array([max((k for k, s in enumerate(starts) if s <= t < s + capacity),
                          key=lambda k: (context(t, starts[k]), -k)) for t in range(len(p_ids))])
    rows = []
    for s0 in starts:
        chunk = p_ids[s0: s0 + capacity]
        rows.append(([tokenizer.cls_token_id, *q_ids, tokenizer.sep_token_id, *chunk, tokenizer.sep_token_id],
                     [0] * (len(q_ids) + 2) + [1] * (len(chunk) + 1)))
    width = max(len(ids) for ids, _ in rows)  # all windows in one padded forward pass
    ids = torch.tensor([r[0] + [tokenizer.pad_token_id] * (width - len(r[0])) for r in rows])
    types = torch.tensor([r[1] + [0] * (width - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    with torch.no_grad():
        logits = hf_model(input_ids=ids, token_type_ids=types, attention_mask=mask)
    best = None
    for w, s0 in enumerate(starts):
        chunk = p_ids[s0: s0 + capacity]
        off, n = len(q_ids) + 2, len(chunk)
        start = logits.start_logits[w].numpy()[off: off + n].astype(np.float64)
        end = logits.end_logits[w].numpy()[off: off + n].astype(np.float64)
        # every (i, j) pair, kept when j - i < max_len, j >= i and this window owns start i
        scores = start[:, None] + end[None, :]
        i, j = np.indices(scores.shape)
        valid = (j >= i) & (j - i < max_len) & (owner[s0 + np.arange(n)] == w)[:, None]
        if not valid.any():
            continue
        flat = np.where(valid, scores, -np.inf).argmax()
        bi, bj = divmod(int(flat), n)
        if best is None or scores[bi, bj] > best[0]:
            best = (float(scores[bi, bj]), p_offsets[s0 + bi][0], p_offsets[s0 + bj][1])
    return best


@pytest.mark.slow  # ~100 transformers forward passes as the reference; runs in CI, skip with -m "not slow"
@pytest.mark.parametrize(("max_seq", "stride"), [(384, 128), (64, 16)])
def test_top_answer_matches_brute_force_on_transformers_logits(minilm_qa, max_seq, stride):
    from transformers import AutoTokenizer, BertForQuestionAnswering

    hf_model = BertForQuestionAnswering.from_pretrained(minilm_qa).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_qa)
    reader = SpanBERTReader(model=str(minilm_qa), max_seq_length=max_seq, stride=stride, max_query_length=24,
                            max_answer_length=30, top_k=1, no_answer=False)
    passages = _passages()
    queries = _queries(passages)
    pairs = [(q, p) for q in queries for p in passages]
    assert len(pairs) >= 80
    results = reader.run_batch([q for q, _ in pairs], [[Document(content=p)] for _, p in pairs])["answers"]
    agree = 0
    logit_gaps = []
    for (query, passage), answers in zip(pairs, results, strict=True):
        expected = _brute_force(hf_model, tokenizer, query, passage, 30, 24, max_seq, stride)
        top = answers[0]
        agree += (top.document_offset.start, top.document_offset.end) == expected[1:]
        logit_gaps.append(abs(top.meta["logit"] - expected[0]))
    assert agree / len(pairs) >= 0.99, f"agreement {agree}/{len(pairs)}"
    assert np.max(logit_gaps) < 1e-3


def test_same_top_answer_as_transformers_extractive_reader_when_configured_alike(minilm_qa):
    """Drop-in check: with TER's conventions (no segment ids, no length limit, every window proposes
    starts) our top answer is TER's, on short and multi-window documents."""
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    ter = TransformersExtractiveReader(model=str(minilm_qa), top_k=3, max_seq_length=96, stride=24)
    ours = SpanBERTReader(model=str(minilm_qa), top_k=3, max_seq_length=96, stride=24, max_query_length=32,
                          use_token_type_ids=False, max_answer_length=None, max_context_only=False,
                              calibrate=False)
    ter.warm_up()
    passages = _passages()
    docs = [Document(content=p) for p in passages]
    queries = _queries(passages)[:12]
    same = 0
    for query in queries:
        a = ter.run(query=query, documents=docs)["answers"][0]
        b = next(x for x in ours.run(query=query, documents=docs)["answers"] if x.data is not None)
        if (a.document.id, a.document_offset.start, a.document_offset.end) == \
                (b.document.id, b.document_offset.start, b.document_offset.end):
            same += 1
            assert b.score == pytest.approx(a.score, abs=1e-4)  # same span -> same probability
    assert same == len(queries)
