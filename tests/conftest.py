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


@pytest.fixture(scope="session")
def demo_model():
    """The bundled demo reader (skips when this checkout lacks it)."""
    from spanbert_reader.app.settings import demo_model_path

    path = demo_model_path()
    if path is None:
        pytest.skip("the bundled demo reader is not in this checkout")
    return path


@pytest.fixture(scope="session")
def elasticsearch_url():
    """A real Elasticsearch: ``$ELASTICSEARCH_URL`` when set, else the embedded node of tests/elasticsearch_node
    (built with Maven, run with Java). Without Java/Maven the tests that need it skip, saying so; with
    ``SPANBERT_REQUIRE_ELASTICSEARCH=1`` (set by .ci/run) that is a failure instead."""
    import es_node

    required = os.environ.get("SPANBERT_REQUIRE_ELASTICSEARCH") == "1"
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"].rstrip("/")
        return
    reason = es_node.missing_tools()
    if reason:
        message = f"needs a real Elasticsearch: set ELASTICSEARCH_URL, or install Java and Maven ({reason})"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    try:
        node = es_node.start()
    except es_node.NodeUnavailable as exc:
        if required:
            pytest.fail(str(exc))
        pytest.skip(f"the embedded Elasticsearch could not start: {exc}")
    try:
        yield node.url
    finally:
        node.stop()
