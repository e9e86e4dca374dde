"""Who may ask: an optional API key (a bearer token), and the warning for a server open to the network without
one."""

from __future__ import annotations

import hmac
import ipaddress

from spanbert_reader.serve.limits import send_json

API_KEY_ENV = "SPANBERT_API_KEY"
# what anyone may fetch without the key: the page, its assets, the API docs and the health check hold no data
PUBLIC_PATHS = ("/", "/health", "/docs", "/openapi.json", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/", "/docs/assets/")


def is_public(path: str) -> bool:
    """Whether ``path`` is served without the API key."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def key_matches(header: bytes | None, key: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <key>`` (compared in constant time)."""
    if header is None:
        return False
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(token.strip(), key.encode("utf-8"))


class ApiKeyGate:
    """ASGI middleware: with a key set, every request outside :data:`PUBLIC_PATHS` must carry
    ``Authorization: Bearer <key>``; others get 401 before their body is read. CORS preflights pass (the CORS
    middleware outside this one answers them)."""

    def __init__(self, app, key: str) -> None:
        if not key:
            raise ValueError("the API key is empty")
        self.app = app
        self.key = key

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("method") != "OPTIONS" and not is_public(scope.get("path", "")):
            if not key_matches(dict(scope.get("headers") or []).get(b"authorization"), self.key):
                await send_json(send, 401, "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                                [(b"www-authenticate", b'Bearer realm="spanbert-qa"')])
                return
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning to print when the server would answer anyone on the network without a key, else None."""
    if api_key or is_loopback(host):
        return None
    return (f"warning: serving on {host} without an API key: anyone who can reach this port can ask questions "
            f"and read your documents' text. Set {API_KEY_ENV} (or --api-key) to require a key.")
