"""The wire format of the QA service: the request, one answer and the response (shared by the HTTP endpoint, the
MCP tool and the Hayhooks wrapper)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from spanbert_reader.app.settings import DEFAULT_RETRIEVER_TOP_K, DEFAULT_TOP_K

MAX_QUESTION_CHARS = 2000
DEFAULT_MAX_TOP_K = 50

Question = Annotated[StrictStr, Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                                      description="The question to answer (1 to 2000 characters).")]
TopK = Annotated[StrictInt, Field(ge=1, le=DEFAULT_MAX_TOP_K, description="How many answers to return (1 to 50).")]
RetrieverTopK = Annotated[StrictInt, Field(ge=1, le=DEFAULT_MAX_TOP_K,
                                           description="How many passages the retriever hands the reader (1 to 50).")]


class QARequest(BaseModel):
    """A question for the indexed documents. Types are strict: ``"3"`` or ``true`` is not an integer, and fields
    other than these three are refused."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    top_k: TopK = DEFAULT_TOP_K
    retriever_top_k: RetrieverTopK = DEFAULT_RETRIEVER_TOP_K


class Answer(BaseModel):
    """One answer to the question."""

    answer: str | None = Field(description="The answer text, a span of the source document; null for the "
                                           "no-answer entry.")
    score: float = Field(description="The chance the answer is right (an exact match), in [0, 1]; for the "
                                     "no-answer entry, the chance the best answer is wrong.")
    no_answer: bool = Field(default=False, description="True for the entry that says no passage answers.")
    document_id: str | None = Field(default=None, description="Id of the document the answer comes from.")
    source: str | None = Field(default=None, description="The document's file path, title, name or URL.")
    start: int | None = Field(default=None, description="Character offset where the answer starts in the document.")
    end: int | None = Field(default=None, description="Character offset just after the answer in the document.")
    context: str | None = Field(default=None, description="The answer in its surrounding text, marked »like this«.")
    passage: str | None = Field(default=None, description="The text of the passage around the answer (at most "
                                                          "a few hundred characters either side of it).")
    passage_start: int | None = Field(default=None, description="Character offset in the document where `passage` "
                                                                "starts: the answer is passage[start - passage_start"
                                                                " : end - passage_start].")
    passage_rank: int | None = Field(default=None, description="Rank of the answer's passage among those the "
                                                               "retriever handed the reader (1 = first).")
    meta: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="The document's scalar metadata (NaN and infinities as null).")


class QAResponse(BaseModel):
    """The question and its answers, best first."""

    question: str = Field(description="The question, stripped of surrounding whitespace.")
    not_found: bool = Field(default=False, description=(
        "True when the reader says the documents do not answer the question (the no-answer entry comes first; the "
        "answers after it are best guesses)."))
    answers: list[Answer] = Field(description="Answers, best first (at most top_k, plus a no-answer entry).")
