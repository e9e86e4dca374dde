"""The Hayhooks ``PipelineWrapper`` for question answering.

Configured through environment variables (so one wrapper file serves every deployment):
``SPANBERT_SERVE_PIPELINE`` (bundled name or YAML path, default ``inmemory_qa``), ``SPANBERT_MODEL``,
``SPANBERT_SERVE_STORE`` (``memory``/``elasticsearch``), ``SPANBERT_SERVE_INDEX``, ``SPANBERT_DATA_DIR``,
``ELASTICSEARCH_URL``, ``EMBEDDING_MODEL``, ``SPANBERT_SERVE_MAX_TOP_K`` (default 50).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import HTTPException
from hayhooks import BasePipelineWrapper

MAX_QUESTION_CHARS = 2000


def load_serving_pipeline():
    """Load and warm up the QA pipeline described by the environment (the model is loaded once)."""
    from spanbert_reader.component import DEFAULT_MODEL
    from spanbert_reader.pipelines import load_pipeline
    from spanbert_reader.querying import inject_store
    from spanbert_reader.stores import load_memory_store

    store_kind = os.environ.get("SPANBERT_SERVE_STORE", "memory")
    index = os.environ.get("SPANBERT_SERVE_INDEX") or ("spanbert" if store_kind == "elasticsearch" else "default")
    name = os.environ.get("SPANBERT_SERVE_PIPELINE") or (
        "elasticsearch_qa" if store_kind == "elasticsearch" else "inmemory_qa")
    overrides = {"SPANBERT_MODEL": os.environ.get("SPANBERT_MODEL") or DEFAULT_MODEL, "INDEX": index,
                 "READER_TOP_K": 50}
    pipeline = load_pipeline(name, overrides)
    if store_kind == "memory":
        inject_store(pipeline, load_memory_store(index, os.environ.get("SPANBERT_DATA_DIR"), must_exist=True))
    pipeline.warm_up()
    return pipeline


class PipelineWrapper(BasePipelineWrapper):
    """``POST /<name>/run`` with ``{"question": ..., "top_k": 3, "retriever_top_k": 10}`` → answers as JSON."""

    def setup(self) -> None:
        self.pipeline = load_serving_pipeline()
        self.max_top_k = int(os.environ.get("SPANBERT_SERVE_MAX_TOP_K", "50"))

    def _inputs(self, question: str, top_k: int, retriever_top_k: int) -> dict[str, Any]:
        from spanbert_reader.querying import question_inputs

        if not isinstance(question, str) or not question.strip():
            raise HTTPException(status_code=422, detail="question must be a non-empty string")
        if len(question) > MAX_QUESTION_CHARS:
            raise HTTPException(status_code=413, detail=f"question longer than {MAX_QUESTION_CHARS} characters")
        for name, value in (("top_k", top_k), ("retriever_top_k", retriever_top_k)):
            if not 1 <= value <= self.max_top_k:
                raise HTTPException(status_code=422, detail=f"{name} must be between 1 and {self.max_top_k}")
        from spanbert_reader.component import SpanBERTReader

        data = question_inputs(self.pipeline, question.strip())
        for component, sockets in self.pipeline.inputs().items():
            if "top_k" in sockets:  # retrievers (and a joiner): how many passages reach the reader
                data.setdefault(component, {})["top_k"] = retriever_top_k
        for name in self.pipeline.graph.nodes:
            if isinstance(self.pipeline.get_component(name), SpanBERTReader):
                data.setdefault(name, {})["top_k"] = top_k
        return data

    def _respond(self, question: str, result: dict[str, Any]) -> dict[str, Any]:
        from spanbert_reader.querying import answer_records, find_answers

        return {"question": question, "answers": answer_records(find_answers(result))}

    def run_api(self, question: str, top_k: int = 3, retriever_top_k: int = 10) -> dict:
        """Answer a question: top answers with score, document id, source, offsets and marked context."""
        return self._respond(question, self.pipeline.run(self._inputs(question, top_k, retriever_top_k)))

    async def run_api_async(self, question: str, top_k: int = 3, retriever_top_k: int = 10) -> dict:
        """Like :meth:`run_api`, without blocking the event loop (the reader runs in a worker thread)."""
        inputs = self._inputs(question, top_k, retriever_top_k)
        return self._respond(question, await self.pipeline.run_async(inputs))
