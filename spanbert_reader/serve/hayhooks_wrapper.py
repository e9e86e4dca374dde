"""A Hayhooks ``PipelineWrapper`` for deployments that run Hayhooks' own server (``hayhooks run``).

``spanbert-qa serve`` does not use it: Hayhooks' server also exposes admin routes (deploy, undeploy, draw) without
authentication, so put it on a network only behind your own access control. To deploy, make a folder of your own
(never inside the installed package) holding ``spanbert_qa/pipeline_wrapper.py`` with the one line
``from spanbert_reader.serve.hayhooks_wrapper import PipelineWrapper``, then ``hayhooks run --pipelines-dir FOLDER``.
The pipeline is built from the environment (``SPANBERT_MODEL``, ``SPANBERT_DATA_DIR``, ``ELASTICSEARCH_URL``,
``EMBEDDING_MODEL``, ``SPANBERT_PRECISION``, and ``SPANBERT_SERVE_STORE``/``SPANBERT_SERVE_INDEX``/
``SPANBERT_SERVE_PIPELINE``).
"""

from __future__ import annotations

import os

from fastapi import HTTPException
from hayhooks import BasePipelineWrapper

from spanbert_reader.app.settings import DEFAULT_RETRIEVER_TOP_K, DEFAULT_TOP_K
from spanbert_reader.serve.schema import DEFAULT_MAX_TOP_K, QAResponse, Question, RetrieverTopK, TopK
from spanbert_reader.serve.service import QAService, RequestError


def service_from_environment(environ: os._Environ | dict[str, str] | None = None) -> QAService:
    """The QA service the environment describes (see the module docstring)."""
    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.app.settings import AppSettings

    environ = os.environ if environ is None else environ
    settings = AppSettings.from_env(environ, store=environ.get("SPANBERT_SERVE_STORE", "memory"),
                                    index=environ.get("SPANBERT_SERVE_INDEX") or None,
                                    pipeline=environ.get("SPANBERT_SERVE_PIPELINE") or None)
    return QAService(build_qa_pipeline(settings).pipeline,
                     int(environ.get("SPANBERT_SERVE_MAX_TOP_K", DEFAULT_MAX_TOP_K)))


class PipelineWrapper(BasePipelineWrapper):
    """``POST /<name>/run`` with ``{"question": ..., "top_k": 3, "retriever_top_k": 10}`` → answers as JSON."""

    service: QAService | None = None  # set before Hayhooks calls setup() to serve an already built pipeline

    def setup(self) -> None:
        if self.service is None:
            self.service = service_from_environment()
        if not self.service.warm:
            self.service.warm_up()

    def run_api(self, question: Question, top_k: TopK = DEFAULT_TOP_K,
                retriever_top_k: RetrieverTopK = DEFAULT_RETRIEVER_TOP_K) -> QAResponse:
        """Answer a question from the indexed documents.

        Args:
            question: The question to answer (1 to 2000 characters).
            top_k: How many answers to return (1 to 50).
            retriever_top_k: How many passages the retriever hands the reader (1 to 50).

        Returns:
            The question and its answers, best first, each with its score, source document and character offsets.
        """
        try:
            return self.service.answer(question, top_k, retriever_top_k)
        except RequestError as exc:
            raise HTTPException(status_code=exc.status, detail=exc.detail) from None

    async def run_api_async(self, question: Question, top_k: TopK = DEFAULT_TOP_K,
                            retriever_top_k: RetrieverTopK = DEFAULT_RETRIEVER_TOP_K) -> QAResponse:
        try:
            return await self.service.answer_async(question, top_k, retriever_top_k)
        except RequestError as exc:
            raise HTTPException(status_code=exc.status, detail=exc.detail) from None

    run_api_async.__doc__ = run_api.__doc__  # Hayhooks builds the endpoint's description from it
