"""Where the bundled demo reader lives, and how the CLI picks a reader model."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

DEMO_MODEL_NAME = "minilm-squad-demo"


def demo_model_path() -> Path | None:
    """The bundled demo reader (all-MiniLM-L6-v2 fine-tuned on SQuAD 1.1 data), if this install has it."""
    candidates = [Path(__file__).resolve().parents[1] / "examples" / "models" / DEMO_MODEL_NAME,
                  Path(sys.prefix) / "share" / "spanbert-reader" / "models" / DEMO_MODEL_NAME]
    for path in candidates:
        if (path / "model.safetensors").exists() and (path / "config.json").exists():
            return path
    return None


def explicit_model(argument: str | None) -> str | None:
    """The model the user asked for (``--model``, else ``$SPANBERT_MODEL``), or None."""
    return argument or os.environ.get("SPANBERT_MODEL") or None
