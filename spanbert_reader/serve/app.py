"""The HTTP server of ``spanbert-qa serve``: the question page, ``POST /spanbert_qa/run``, ``GET /health`` and
the API docs, and nothing else (MCP only with ``mcp=True``).

There are no routes that deploy, undeploy or draw pipelines, and nothing a request sends is written anywhere:
the pipeline is built once, before the server starts, and the page and docs assets are read from the installed
packages.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.settings import DEFAULT_MAX_BODY_BYTES, AppSettings
from spanbert_reader.serve.limits import BODY_TIMEOUT_S, BoundedBody
from spanbert_reader.serve.schema import QARequest, QAResponse
from spanbert_reader.serve.security import API_KEY_ENV, ApiKeyGate, exposure_warning
from spanbert_reader.serve.service import QAService, RequestError

logger = logging.getLogger(__name__)

PIPELINE_NAME = "spanbert_qa"
KEEP_ALIVE_S = 5
GRACEFUL_SHUTDOWN_S = 30  # after SIGTERM, requests in flight get this long to be answered
PAGE_DIR = Path(str(files("spanbert_reader.serve") / "page"))
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


def docs_assets_dir() -> Path:
    """Swagger UI's JavaScript and CSS, from the installed ``fastapi-offline`` package (no CDN)."""
    from spanbert_reader.extras import require

    require("fastapi_offline", "the offline API docs of spanbert-qa serve")
    return Path(str(files("fastapi_offline") / "static"))


def check_origins(origins: Sequence[str]) -> list[str]:
    """The CORS origins, each ``scheme://host[:port]``; :class:`AppError` naming a malformed one."""
    checked = []
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if not _ORIGIN.match(origin):
            raise AppError(f"--cors-origin must look like https://host[:port], got {origin!r}.")
        checked.append(origin)
    return checked


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` and ``no-referrer`` on every response, and a strict Content-Security-Policy
    on the question page (its scripts and styles come from this server only, nothing inline)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope.get("path") == "/" or scope.get("path", "").startswith("/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if page:
                    headers += [(b"content-security-policy", PAGE_CSP.encode()), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_serving_app(service: QAService, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, api_key: str | None = None,
                       cors_origins: Sequence[str] = (), mcp: bool = False, host: str = "127.0.0.1"):
    """The FastAPI app that serves ``service``.

    Routes: ``GET /`` (the question page) and ``/static/*`` (its assets), ``POST /spanbert_qa/run``,
    ``GET /health``, ``GET /openapi.json``, ``GET /docs`` and ``/docs/assets/*`` (Swagger UI, offline); with
    ``mcp`` also ``/mcp``. With ``api_key`` every route but the page, its assets, the docs and the health check
    needs ``Authorization: Bearer <api_key>``. CORS answers only ``cors_origins`` (none by default). The service
    is warmed up (one question answered) at start-up unless it already is.
    """
    from fastapi import FastAPI, HTTPException, Security
    from fastapi.concurrency import run_in_threadpool
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.security import HTTPBearer
    from fastapi.staticfiles import StaticFiles

    from spanbert_reader.version import __version__

    origins = check_origins(cors_origins)
    assets = docs_assets_dir()
    mcp_server = None
    if mcp:
        from spanbert_reader.serve.mcp_tool import build_mcp_server

        mcp_server = build_mcp_server(service, host)
        mcp_app = mcp_server.streamable_http_app()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if not service.warm:
            await run_in_threadpool(service.warm_up)
        async with contextlib.AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield

    app = FastAPI(title="spanbert-qa", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None, openapi_url="/openapi.json",
                  description="Extractive question answering over your indexed documents.")
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError) -> JSONResponse:
        # location, message and type only: echoing the input could leak it or fail to encode (lone surrogates)
        errors = [{"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
                   "type": str(error.get("type", ""))} for error in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(Exception)
    async def internal_error(request, exc: Exception) -> JSONResponse:
        logger.error("request to %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
        return JSONResponse(status_code=500, content={"detail": "internal error while answering; see the server log"})

    security = [Security(HTTPBearer(auto_error=False, description="The server's API key"))] if api_key else None

    @app.post(f"/{PIPELINE_NAME}/run", response_model=QAResponse, dependencies=security,
              summary="Answer a question from the indexed documents",
              description="The answers, best first, each with its score, source document, character offsets and "
                          "the passage around it. Offsets count Unicode code points.")
    async def run(request: QARequest) -> QAResponse:
        try:
            return await service.answer_async(request.question, request.top_k, request.retriever_top_k)
        except RequestError as exc:
            raise HTTPException(status_code=exc.status, detail=exc.detail) from None

    @app.get("/health", summary="Whether the server is ready to answer")
    async def health():
        ready = service.warm
        return JSONResponse(status_code=200 if ready else 503,
                            content={"status": "ok" if ready else "starting", "pipeline": PIPELINE_NAME})

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE_DIR / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="openapi.json", title="spanbert-qa API",
                                   swagger_js_url="docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="docs/assets/swagger-ui.css",
                                   swagger_favicon_url="docs/assets/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})

    app.mount("/static", StaticFiles(directory=PAGE_DIR), name="static")
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")
    if mcp_server is not None:
        app.router.routes.extend(mcp_app.routes)  # the one route /mcp

    # outermost last: CORS answers preflights, then the key is checked before any body is read
    app.add_middleware(BoundedBody, max_bytes=max_body_bytes, timeout=BODY_TIMEOUT_S)
    if api_key:
        app.add_middleware(ApiKeyGate, key=api_key)
    app.add_middleware(SecurityHeaders)
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"], allow_credentials=False)
    return app


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(settings: AppSettings, host: str = "127.0.0.1", port: int = 1416,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, api_key: str | None = None, cors_origins: Sequence[str] = (),
          mcp: bool = False) -> None:
    """Build the QA pipeline (same checks and model fallback as ``ask``), answer one question with it, then
    serve it until interrupted (SIGTERM and Ctrl-C let requests in flight finish)."""
    if not 1 <= port <= 65535:
        raise AppError(f"--port must be between 1 and 65535, got {port}.")
    if max_body_bytes < 1:
        raise AppError(f"--max-body-bytes must be at least 1, got {max_body_bytes}.")
    if api_key is not None and not api_key.strip():
        raise AppError(f"the API key (--api-key or ${API_KEY_ENV}) is empty.")
    check_origins(cors_origins)
    from spanbert_reader.extras import require

    uvicorn = require("uvicorn", "spanbert-qa serve")
    require("fastapi", "spanbert-qa serve")
    docs_assets_dir()
    warning = exposure_warning(host, api_key)
    if warning:
        print(f"spanbert-qa serve: {warning}", file=sys.stderr)
    from spanbert_reader.app.qa import build_qa_pipeline

    built = build_qa_pipeline(settings)
    for note in built.notes:
        print(f"spanbert-qa: {note}", file=sys.stderr)
    service = QAService(built.pipeline)
    try:
        service.warm_up()
    except RequestError as exc:
        raise AppError(f"the QA pipeline could not answer its warm-up question: {exc.detail}") from exc
    except Exception as exc:  # a pipeline that cannot answer must not be served
        raise AppError(f"the QA pipeline could not answer its warm-up question: {type(exc).__name__}: {exc}") from exc
    app = create_serving_app(service, max_body_bytes=max_body_bytes, api_key=api_key, cors_origins=cors_origins,
                             mcp=mcp, host=host)
    routes = f"question page at {_url(host, port)}/, POST /{PIPELINE_NAME}/run, GET /health, docs at /docs"
    if mcp:
        routes += ", MCP at /mcp"
    print(f"Serving on {_url(host, port)}: {routes}" + ("; API key required" if api_key else ""), file=sys.stderr)
    from spanbert_reader.serve.protocol import HeaderDeadlineProtocol

    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S,
                http=HeaderDeadlineProtocol, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
