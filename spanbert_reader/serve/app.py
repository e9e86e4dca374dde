"""Build the Hayhooks app that serves the QA pipeline, with a health endpoint and a request-size limit."""

from __future__ import annotations

import tempfile
from pathlib import Path

WRAPPER_SOURCE = "from spanbert_reader.serve.wrapper import PipelineWrapper  # noqa: F401\n"
PIPELINE_NAME = "spanbert_qa"
DEFAULT_MAX_BODY = 64 * 1024


def create_serving_app(pipelines_dir: str | Path | None = None, max_body_bytes: int = DEFAULT_MAX_BODY):
    """A FastAPI app: Hayhooks with the ``spanbert_qa`` pipeline, ``GET /health`` and a body-size limit (413)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from hayhooks.settings import settings

    folder = Path(pipelines_dir) if pipelines_dir else Path(tempfile.mkdtemp(prefix="spanbert-serve-"))
    (folder / PIPELINE_NAME).mkdir(parents=True, exist_ok=True)
    (folder / PIPELINE_NAME / "pipeline_wrapper.py").write_text(WRAPPER_SOURCE)
    settings.pipelines_dir = str(folder)
    from hayhooks import create_app

    app = create_app()

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return JSONResponse(status_code=413, content={"detail": f"request body over {max_body_bytes} bytes"})
        if length is None and request.method in ("POST", "PUT"):
            body = await request.body()
            if len(body) > max_body_bytes:
                return JSONResponse(status_code=413, content={"detail": f"request body over {max_body_bytes} bytes"})
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict:
        from hayhooks.server.pipelines import registry

        ready = PIPELINE_NAME in registry.get_names()
        return JSONResponse(status_code=200 if ready else 503,
                            content={"status": "ok" if ready else "starting", "pipeline": PIPELINE_NAME})

    return app
