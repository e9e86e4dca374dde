"""uvicorn's h11 HTTP protocol with a deadline for each request's head, so a client that opens a connection (or
keeps one alive) and never finishes its request line and headers is disconnected instead of holding a slot."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineProtocol(H11Protocol):
    """Closes the connection when no complete request head arrives within ``header_timeout`` seconds of the
    connection opening or of the previous response ending. (uvicorn's own keep-alive timer stops at the first
    byte received, so a client trickling header bytes would otherwise never be timed out.)"""

    header_timeout: float = HEADER_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._cancel()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _cancel(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expire(self) -> None:
        self._head_deadline = None
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel()  # a request head arrived; the body has its own timeout (serve.app.BoundedBody)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)
