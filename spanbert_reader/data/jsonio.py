"""JSON parsing for files a user hands us: nesting too deep to parse is a ``json.JSONDecodeError`` (a
``ValueError``) like any other malformed JSON, never a ``RecursionError`` deep inside the decoder."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["loads"]


def loads(text: str | bytes) -> Any:
    """Parse ``text`` as JSON; raises ``json.JSONDecodeError`` for malformed or too deeply nested input."""
    try:
        return json.loads(text)
    except RecursionError:
        doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError("arrays or objects nested too deeply to read (hundreds of levels)",
                                   doc, 0) from None
