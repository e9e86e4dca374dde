"""The Hayhooks ``PipelineWrapper`` for question answering.

``spanbert-qa serve`` builds the QA pipeline (with :func:`spanbert_reader.app.qa.build_qa_pipeline`, the same
builder as ``ask`` and ``eval``) and hands it to this wrapper with :func:`configure` before the server starts.
Deployed on its own with ``hayhooks run``, the wrapper builds it from the environment instead
(``SPANBERT_MODEL``, ``SPANBERT_DATA_DIR``, ``ELASTICSEARCH_URL``, ``EMBEDDING_MODEL``, and
``SPANBERT_SERVE_STORE``/``SPANBERT_SERVE_INDEX``/``SPANBERT_SERVE_PIPELINE``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import HTTPException
from hayhooks import BasePipelineWrapper
from pydantic import BaseModel, Field

MAX_QUESTION_CHARS = 2000
DEFAULT_MAX_TOP_K = 50

Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
TopK = Annotated[int, Field(ge=1, le=DEFAULT_MAX_TOP_K)]


class Answer(BaseModel):
    """One answer to the question."""

    answer: str | None = Field(description="The answer text, a span of the source document; null for the "
                                           "no-answer entry.")
    score: float = Field(description="How likely the answer is right, in [0, 1].")
    no_answer: bool = Field(default=False, description="True for the entry that says no passage answers.")
    document_id: str | None = Field(default=None, description="Id of the document the answer comes from.")
    source: str | None = Field(default=None, description="The document's file path, title, name or URL.")
    start: int | None = Field(default=None, description="Character offset where the answer starts in the document.")
    end: int | None = Field(default=None, description="Character offset just after the answer in the document.")
    context: str | None = Field(default=None, description="The answer in its surrounding text, marked »like this«.")
    meta: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                      description="The document's scalar metadata.")


class QAResponse(BaseModel):
    """The question and its answers, best first."""

    question: str = Field(description="The question, stripped of surrounding whitespace.")
    answers: list[Answer] = Field(description="Answers, best first (at most top_k, plus a no-answer entry).")


@dataclass
class ServingSetup:
    """What the wrapper serves: a warmed-up QA pipeline and the largest ``top_k`` a request may ask for."""

    pipeline: Any
    max_top_k: int = DEFAULT_MAX_TOP_K


_configured: ServingSetup | None = None


def configure(setup: ServingSetup | None) -> None:
    """Give the wrapper the pipeline to serve (``None`` to build from the environment at start-up)."""
    global _configured
    _configured = setup


def setup_from_environment() -> ServingSetup:
    """Build what to serve from the environment (for ``hayhooks run`` deployments of this wrapper)."""
    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.app.settings import AppSettings

    store = os.environ.get("SPANBERT_SERVE_STORE", "memory")
    settings = AppSettings.from_env(store=store, index=os.environ.get("SPANBERT_SERVE_INDEX") or None,
                                    pipeline=os.environ.get("SPANBERT_SERVE_PIPELINE") or None)
    return ServingSetup(build_qa_pipeline(settings).pipeline,
                        int(os.environ.get("SPANBERT_SERVE_MAX_TOP_K", DEFAULT_MAX_TOP_K)))


class PipelineWrapper(BasePipelineWrapper):
    """``POST /<name>/run`` with ``{"question": ..., "top_k": 3, "retriever_top_k": 10}`` → answers as JSON."""

    def setup(self) -> None:
        serving = _configured or setup_from_environment()
        self.pipeline = serving.pipeline
        self.max_top_k = serving.max_top_k

    def _inputs(self, question: str, top_k: int, retriever_top_k: int) -> dict[str, Any]:
        from spanbert_reader.app.qa import question_inputs

        if not isinstance(question, str) or not question.strip():
            raise HTTPException(status_code=422, detail="question must be a non-empty string")
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(status_code=422, detail="question must be valid Unicode text") from None
        if len(question) > MAX_QUESTION_CHARS:
            raise HTTPException(status_code=413, detail=f"question longer than {MAX_QUESTION_CHARS} characters")
        for name, value in (("top_k", top_k), ("retriever_top_k", retriever_top_k)):
            if not 1 <= value <= self.max_top_k:
                raise HTTPException(status_code=422, detail=f"{name} must be between 1 and {self.max_top_k}")
        return question_inputs(self.pipeline, question.strip(), top_k, retriever_top_k)

    def _respond(self, question: str, result: dict[str, Any]) -> QAResponse:
        from spanbert_reader.app.qa import answer_records, find_answers

        return QAResponse(question=question.strip(),
                          answers=[Answer(**record) for record in answer_records(find_answers(result))])

    def run_api(self, question: Question, top_k: TopK = 3, retriever_top_k: TopK = 10) -> QAResponse:
        """Answer a question from the indexed documents.

        Args:
            question: The question to answer (1 to 2000 characters).
            top_k: How many answers to return (1 to 50).
            retriever_top_k: How many passages the retriever hands the reader (1 to 50).

        Returns:
            The question and its answers, best first, each with its score, source document and character offsets.
        """
        return self._respond(question, self.pipeline.run(self._inputs(question, top_k, retriever_top_k)))

    async def run_api_async(self, question: Question, top_k: TopK = 3, retriever_top_k: TopK = 10) -> QAResponse:
        inputs = self._inputs(question, top_k, retriever_top_k)  # the reader runs in a worker thread
        return self._respond(question, await self.pipeline.run_async(inputs))

    run_api_async.__doc__ = run_api.__doc__  # Hayhooks builds the endpoint's description from it
