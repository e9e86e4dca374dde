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


def _no_node(message: str) -> None:
    """Fail (CI: SPANBERT_REQUIRE_ELASTICSEARCH=1) or skip, with ``message`` as the reason."""
    if os.environ.get("SPANBERT_REQUIRE_ELASTICSEARCH") == "1":
        pytest.fail(message)
    pytest.skip(message)


def embedded_elasticsearch(start, alternative: str = ""):
    """``start()`` of tests/es_node (a node or a cluster), or a skip / failure saying why it cannot run here
    (``alternative``: another way to get a server, for the message)."""
    import es_node

    reason = es_node.missing_tools()
    if reason:
        _no_node(f"needs a real Elasticsearch: {alternative}install Java and Maven ({reason})")
    try:
        return start()
    except es_node.NodeUnavailable as exc:
        _no_node(f"the embedded Elasticsearch could not start: {exc}")


@pytest.fixture(scope="session")
def elasticsearch_url():
    """A real Elasticsearch: ``$ELASTICSEARCH_URL`` when set, else the embedded node of tests/elasticsearch_node
    (built with Maven, run with Java). Without Java/Maven the tests that need it skip, saying so; with
    ``SPANBERT_REQUIRE_ELASTICSEARCH=1`` (set by .ci/run) that is a failure instead."""
    import es_node

    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"].rstrip("/")
        return
    node = embedded_elasticsearch(es_node.start, alternative="set ELASTICSEARCH_URL, or ")
    try:
        yield node.url
    finally:
        node.stop()
