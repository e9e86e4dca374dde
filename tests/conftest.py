import os
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_qa(tmp_path_factory):
    from helpers import make_qa_checkpoint

    return make_qa_checkpoint(tmp_path_factory.mktemp("tiny_qa"))


@pytest.fixture(scope="session")
def minilm_qa(tmp_path_factory):
    from helpers import make_minilm_qa_checkpoint

    return make_minilm_qa_checkpoint(tmp_path_factory.mktemp("minilm_qa"))
