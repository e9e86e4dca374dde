"""Package data is found in every kind of install: build the wheel, install it into a bare --target folder, and
from there list the bundled pipelines, find the demo reader, and answer through the default in-memory pipeline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # builds a wheel with the 45 MB demo model

CHECK = """
import json, spanbert_reader
from spanbert_reader.app.pipelines import list_pipelines
from spanbert_reader.app.settings import demo_model_path
from spanbert_reader.cli import main
from spanbert_reader.serve.app import PAGE_DIR
print(json.dumps({"file": spanbert_reader.__file__, "pipelines": sorted(list_pipelines()),
                  "demo": str(demo_model_path()), "page": sorted(p.name for p in PAGE_DIR.iterdir())}))
"""


def test_wheel_installed_with_target_finds_its_pipelines_and_demo_model(tmp_path):
    import shutil

    source = tmp_path / "source"  # built from a copy: setuptools' build/ in the checkout would keep stale files
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("spanbert_reader", "haystack_integrations", "pipelines"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheels.glob("spanbert_reader-*.whl"))
    target = tmp_path / "target"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False",
           "SPANBERT_DATA_DIR": str(tmp_path / "data")}
    env.pop("SPANBERT_MODEL", None)
    checked = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr[-3000:]
    import json

    found = json.loads(checked.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(target))  # the installed copy, not the checkout
    assert {"inmemory_qa", "elasticsearch_qa", "inmemory_indexing"} <= set(found["pipelines"])
    assert found["demo"].startswith(str(target))
    assert found["page"] == ["index.html", "page.css", "page.js"]  # the question page ships too
    (tmp_path / "doc.txt").write_text("Mount Etna is an active volcano on the east coast of Sicily.")
    cli = [sys.executable, "-c", "import sys; from spanbert_reader.cli import main; sys.exit(main())"]
    assert subprocess.run([*cli, "index", str(tmp_path / "doc.txt"), "--no-progress"], env=env, cwd=tmp_path,
                          capture_output=True, text=True).returncode == 0
    asked = subprocess.run([*cli, "ask", "Where is Mount Etna?"], env=env, cwd=tmp_path, capture_output=True,
                           text=True)
    assert asked.returncode == 0, asked.stderr[-3000:]
    assert "Sicily" in asked.stdout and "using the bundled small demo model" in asked.stderr
