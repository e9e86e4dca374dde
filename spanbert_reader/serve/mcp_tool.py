"""The QA endpoint as an MCP tool (``spanbert-qa serve --mcp``): streamable HTTP at ``/mcp``, one tool
``spanbert_qa`` with the same typed, bounded arguments as ``POST /spanbert_qa/run``."""

from __future__ import annotations

from typing import Any

from spanbert_reader.app.settings import DEFAULT_RETRIEVER_TOP_K, DEFAULT_TOP_K
from spanbert_reader.serve.schema import QAResponse, Question, RetrieverTopK, TopK
from spanbert_reader.serve.service import QAService

TOOL_NAME = "spanbert_qa"
TOOL_DESCRIPTION = ("Answer a question from the indexed documents. Returns the answers, best first, each with its "
                    "score, source document, character offsets and the passage around it.")


def build_mcp_server(service: QAService, host: str) -> Any:
    """A FastMCP server with the ``spanbert_qa`` tool (its HTTP app is made with ``streamable_http_app()``).
    Requests whose Host header is not ``host`` are refused when ``host`` is a loopback address (DNS-rebinding
    protection)."""
    from spanbert_reader.extras import require

    require("mcp", "spanbert-qa serve --mcp")
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("spanbert-qa", host=host, stateless_http=True, json_response=True, log_level="WARNING")

    @server.tool(name=TOOL_NAME, description=TOOL_DESCRIPTION)
    async def spanbert_qa(question: Question, top_k: TopK = DEFAULT_TOP_K,
                          retriever_top_k: RetrieverTopK = DEFAULT_RETRIEVER_TOP_K) -> QAResponse:
        return await service.answer_async(question, top_k, retriever_top_k)

    return server
