"""The core install is enough for SpanBERTReader and the in-memory QA pipeline; everything else names its extra.

Run in a subprocess where the extras' packages cannot be imported (as after `pip install spanbert-reader`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

BLOCKER = """
import importlib.machinery
BLOCKED = {"elasticsearch", "elastic_transport", "sentence_transformers", "hayhooks", "uvicorn", "accelerate",
           "matplotlib", "trafilatura", "pypdf", "markdown_it", "mdit_plain", "lxml_html_clean", "fastapi"}
PREFIXES = ("haystack_integrations.document_stores.elasticsearch",
            "haystack_integrations.components.retrievers.elasticsearch",
            "haystack_integrations.components.embedders.sentence_transformers")
_find = importlib.machinery.PathFinder.find_spec.__func__
def find_spec(cls, name, path=None, target=None):  # as if these packages were not installed
    if name.split(".")[0] in BLOCKED or name.startswith(PREFIXES):
        return None
    return _find(cls, name, path, target)
importlib.machinery.PathFinder.find_spec = classmethod(find_spec)
"""

CORE = BLOCKER + """
import json
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore
from spanbert_reader import SpanBERTReader
from spanbert_reader.app.pipelines import load_pipeline
from spanbert_reader.app.qa import find_answers, question_inputs
from spanbert_reader.app.settings import demo_model_path
from spanbert_reader.app.stores import inject_store

store = InMemoryDocumentStore()
store.write_documents([Document(content="Mount Etna is an active volcano on the east coast of Sicily."),
                       Document(content="The Seine flows through Paris.")])
pipeline = load_pipeline("inmemory_qa", {"SPANBERT_MODEL": str(demo_model_path())})
inject_store(pipeline, store)
answers = find_answers(pipeline.run(question_inputs(pipeline, "Where is Mount Etna?", 1, 2)))
print(json.dumps({"answer": answers[0].data}))
"""

COMMAND = BLOCKER + """
import sys
from spanbert_reader.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(code, *args, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False",
           "SPANBERT_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600)


def test_core_install_answers_with_the_in_memory_pipeline(tmp_path):
    result = _run(CORE, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sicily" in json.loads(result.stdout.strip().splitlines()[-1])["answer"]


def test_each_missing_extra_is_one_line_naming_it(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    (tmp_path / "doc.txt").write_text("Some text to index.")
    cases = {
        "serve": (["serve"], "spanbert-reader[serve]"),
        "train": (["train", "--train", str(fixture), "--model", "m", "--output", str(tmp_path / "o")],
                  "spanbert-reader[train]"),
        "files": (["index", str(tmp_path / "doc.txt"), "--no-progress"], "spanbert-reader[files]"),
        "elasticsearch": (["ask", "q?", "--store", "elasticsearch"], "spanbert-reader[elasticsearch]"),
    }
    for name, (args, hint) in cases.items():
        result = _run(COMMAND, *args, tmp_path=tmp_path)
        assert result.returncode == 2, (name, result.stderr[-2000:])
        assert hint in result.stderr and "Traceback" not in result.stderr, (name, result.stderr[-2000:])
