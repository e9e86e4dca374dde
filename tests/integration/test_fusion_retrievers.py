"""Score fusion through real in-memory retrievers: BM25 (unbounded scores), dense embeddings (cosine) and hybrid
reciprocal rank fusion (a narrow band of rescaled values) all reach the reader as Document.score and are fused alike."""

import pytest
from haystack import Document, Pipeline
from haystack.components.joiners import DocumentJoiner
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore
from helpers import minilm_path

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference.ranking import normalized_retriever_scores

TEXTS = [
    "Paris is the capital of France. The Louvre museum is in Paris.",
    "Berlin is the capital of Germany. The river Spree flows through Berlin.",
    "Python is a programming language released in 1991.",
    "The Seine is a river that flows through Paris, the capital city of France.",
]
QUESTION = "Which river flows through the capital of France?"
WEIGHT = 5.0


@pytest.fixture(scope="module")
def store():
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
    )

    embedder = SentenceTransformersDocumentEmbedder(model=str(minilm_path()), progress_bar=False)
    embedder.warm_up()
    store = InMemoryDocumentStore()
    store.write_documents(embedder.run(documents=[Document(content=t) for t in TEXTS])["documents"])
    return store


def _pipeline(kind, store, model):
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersTextEmbedder,
    )

    p = Pipeline()
    p.add_component("reader", SpanBERTReader(model=str(model), retriever_weight=WEIGHT, top_k=20,
                                             no_answer=False))
    if kind in ("embedding", "hybrid"):
        p.add_component("text_embedder", SentenceTransformersTextEmbedder(model=str(minilm_path()),
                                                                          progress_bar=False))
        p.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=3))
        p.connect("text_embedder.embedding", "dense.query_embedding")
    if kind in ("bm25", "hybrid"):
        p.add_component("bm25", InMemoryBM25Retriever(store, top_k=3))
    if kind == "hybrid":
        p.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=3))
        p.connect("bm25.documents", "joiner.documents")
        p.connect("dense.documents", "joiner.documents")
        p.connect("joiner.documents", "reader.documents")
        last = "joiner"
    else:
        last = "bm25" if kind == "bm25" else "dense"
        p.connect(f"{last}.documents", "reader.documents")
    inputs = {"reader": {"query": QUESTION}}
    if kind in ("bm25", "hybrid"):
        inputs["bm25"] = {"query": QUESTION}
    if kind in ("embedding", "hybrid"):
        inputs["text_embedder"] = {"text": QUESTION}
    return p, inputs, last


@pytest.mark.parametrize("kind", ["bm25", "embedding", "hybrid"])
def test_fusion_uses_each_retrievers_scores(kind, store, minilm_qa):
    pipeline, inputs, last = _pipeline(kind, store, minilm_qa)
    result = pipeline.run(inputs, include_outputs_from={last})
    docs = result[last]["documents"]
    scores = [d.score for d in docs]
    assert all(isinstance(s, float) for s in scores)
    if kind == "hybrid":  # Haystack rescales reciprocal-rank-fusion values: a narrow band just under 1
        assert max(scores) - min(scores) < 0.1
    normalized = dict(zip([d.id for d in docs], normalized_retriever_scores(scores), strict=True))
    answers = result["reader"]["answers"]
    assert answers
    for a in answers:
        assert a.meta["retriever_score"] == pytest.approx(a.document.score)
        assert a.meta["fused_logit"] == pytest.approx(a.meta["logit"] - WEIGHT * (1 - normalized[a.document.id]))
        assert 0.0 <= a.score <= 1.0
    ranked = [a.meta["fused_logit"] for a in answers]
    assert ranked == sorted(ranked, reverse=True)
    # fusion only re-orders: with every candidate kept, reader-only and fused runs return the same spans
    everything = {"top_k": 10_000}
    fused_all = pipeline.run({**inputs, "reader": {**inputs["reader"], **everything}})["reader"]["answers"]
    plain = SpanBERTReader(model=str(minilm_qa), retriever_weight=0.0, top_k=10_000, no_answer=False)
    only = plain.run(query=QUESTION, documents=docs)["answers"]
    assert sorted((a.document.id, a.document_offset.start, a.document_offset.end) for a in only) == \
        sorted((a.document.id, a.document_offset.start, a.document_offset.end) for a in fused_all)
