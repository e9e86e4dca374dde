"""Build the Hayhooks app that serves the QA pipeline, with a health endpoint and a request-size limit."""

from __future__ import annotations

import sys
from pathlib import Path

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.settings import AppSettings
from spanbert_reader.serve.wrapper import ServingSetup, configure

PIPELINE_NAME = "spanbert_qa"
HAYHOOKS_DIR = Path(__file__).resolve().parent / "hayhooks"  # holds spanbert_qa/pipeline_wrapper.py
DEFAULT_MAX_BODY = 64 * 1024
BODY_TIMEOUT_S = 10.0  # a client that stops sending its body is answered 408 after this long
KEEP_ALIVE_S = 5


async def _send_json(send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BoundedBody:
    """ASGI middleware: request bodies are read here, at most ``max_bytes`` of them (413 past that, whether the
    size is announced or the body is chunked), each chunk within ``timeout`` seconds (408); the application then
    gets the body from memory. Nothing past the limit is ever buffered."""

    def __init__(self, app, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope, receive, send) -> None:
        import asyncio

        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"request body over {self.max_bytes} bytes"
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_json(send, 413, too_large)
            return
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                await _send_json(send, 408, f"request body not received within {self.timeout:.0f} s")
                return
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_serving_app(pipelines_dir: str | Path | None = None, max_body_bytes: int = DEFAULT_MAX_BODY,
                       setup: ServingSetup | None = None):
    """A FastAPI app: Hayhooks with the ``spanbert_qa`` pipeline, ``GET /health`` and a body-size limit (413).

    ``setup`` is the pipeline to serve (built with :func:`spanbert_reader.app.qa.build_qa_pipeline`); without
    it the wrapper builds one from the environment when Hayhooks starts. ``pipelines_dir`` is the folder
    Hayhooks loads wrappers from (default: the packaged one holding ``spanbert_qa/pipeline_wrapper.py``, which
    ``hayhooks run --pipelines-dir`` serves too).
    """
    from fastapi.responses import JSONResponse
    from hayhooks.settings import settings

    configure(setup)
    settings.pipelines_dir = str(pipelines_dir or HAYHOOKS_DIR)
    from hayhooks import create_app
    from hayhooks.server.pipelines import registry

    if PIPELINE_NAME in registry.get_names():  # an earlier app in this process (tests): serve the new setup
        registry.remove(PIPELINE_NAME)

    app = create_app()

    app.add_middleware(BoundedBody, max_bytes=max_body_bytes, timeout=BODY_TIMEOUT_S)

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError) -> JSONResponse:
        # location, message and type only: echoing the input could leak it or fail to encode (lone surrogates)
        errors = [{"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
                   "type": str(error.get("type", ""))} for error in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.get("/health")
    async def health() -> dict:
        from hayhooks.server.pipelines import registry

        ready = PIPELINE_NAME in registry.get_names()
        return JSONResponse(status_code=200 if ready else 503,
                            content={"status": "ok" if ready else "starting", "pipeline": PIPELINE_NAME})

    return app


def serve(settings: AppSettings, host: str = "127.0.0.1", port: int = 1416,
          max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
    """Build the QA pipeline (same checks and model fallback as ``ask``), then serve it until interrupted."""
    if not 1 <= port <= 65535:
        raise AppError(f"--port must be between 1 and 65535, got {port}.")
    if max_body_bytes < 1:
        raise AppError(f"--max-body-bytes must be at least 1, got {max_body_bytes}.")
    from spanbert_reader.extras import require

    uvicorn = require("uvicorn", "spanbert-qa serve")  # hayhooks was needed to import this module
    from spanbert_reader.app.qa import build_qa_pipeline

    built = build_qa_pipeline(settings)
    for note in built.notes:
        print(f"spanbert-qa: {note}", file=sys.stderr)
    app = create_serving_app(None, max_body_bytes, ServingSetup(built.pipeline))
    print(f"Serving on http://{host}:{port}: POST /{PIPELINE_NAME}/run, GET /health, docs at /docs", file=sys.stderr)
    from spanbert_reader.serve.protocol import HeaderDeadlineProtocol

    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S,
                http=HeaderDeadlineProtocol)
