"""Bounds on what one request may make the server read: body size and how long the body may take."""

from __future__ import annotations

import asyncio
import json

BODY_TIMEOUT_S = 10.0  # a client that stops sending its body is answered 408 after this long


async def send_json(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer an ASGI request with ``{"detail": detail}`` and close the connection."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
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
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"request body over {self.max_bytes} bytes"
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await send_json(send, 413, too_large)
            return
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                await send_json(send, 408, f"request body not received within {self.timeout:.0f} s")
                return
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await send_json(send, 413, too_large)
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
