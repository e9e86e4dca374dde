"""Answering one request: check it, run the QA pipeline, and turn its answers into the response (the same for
the HTTP endpoint, the MCP tool and the Hayhooks wrapper)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spanbert_reader.serve.schema import DEFAULT_MAX_TOP_K, MAX_QUESTION_CHARS, Answer, QAResponse

WARM_UP_QUESTION = "What is this about?"


class RequestError(ValueError):
    """A request the service refuses: ``status`` is the HTTP status to answer with, ``detail`` says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class QAService:
    """A loaded QA pipeline and the largest ``top_k`` a request may ask for."""

    pipeline: Any
    max_top_k: int = DEFAULT_MAX_TOP_K
    warm: bool = False  # True once one question has been answered end to end

    def inputs(self, question: Any, top_k: Any, retriever_top_k: Any) -> dict[str, Any]:
        """The pipeline's run inputs for a request; :class:`RequestError` for anything out of bounds."""
        from spanbert_reader.app.qa import question_inputs
        from spanbert_reader.data.text import check_text

        if not isinstance(question, str):
            raise RequestError(422, "question must be a non-empty string")
        try:
            check_text(question)
        except ValueError as exc:
            raise RequestError(422, str(exc)) from None
        if len(question) > MAX_QUESTION_CHARS:
            raise RequestError(413, f"question longer than {MAX_QUESTION_CHARS} characters")
        for name, value in (("top_k", top_k), ("retriever_top_k", retriever_top_k)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.max_top_k:
                raise RequestError(422, f"{name} must be an integer between 1 and {self.max_top_k}")
        return question_inputs(self.pipeline, question.strip(), top_k, retriever_top_k)

    @staticmethod
    def respond(question: str, result: dict[str, Any]) -> QAResponse:
        """The response for a pipeline result."""
        from spanbert_reader.app.qa import answer_records, find_answers, not_found

        answers = find_answers(result)
        return QAResponse(question=question.strip(), not_found=not_found(answers),
                          answers=[Answer(**record) for record in answer_records(answers)])

    def answer(self, question: Any, top_k: Any, retriever_top_k: Any) -> QAResponse:
        """Answer one request in this thread."""
        return self.respond(question, self.pipeline.run(self.inputs(question, top_k, retriever_top_k)))

    async def answer_async(self, question: Any, top_k: Any, retriever_top_k: Any) -> QAResponse:
        """Answer one request; the reader runs in a worker thread, so the event loop keeps serving."""
        inputs = self.inputs(question, top_k, retriever_top_k)
        return self.respond(question, await self.pipeline.run_async(inputs))

    def warm_up(self) -> None:
        """Answer one question end to end (retrieval, tokenisation, the model's first forward passes), so the first
        real request is as fast as the ones after it."""
        from spanbert_reader.app.settings import DEFAULT_RETRIEVER_TOP_K, DEFAULT_TOP_K

        self.answer(WARM_UP_QUESTION, DEFAULT_TOP_K, min(DEFAULT_RETRIEVER_TOP_K, self.max_top_k))
        self.warm = True
