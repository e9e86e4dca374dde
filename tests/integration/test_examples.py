"""Every script in examples/ runs offline, end to end, with the same fallback and warning as the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_offline(script, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False",
           "SPANBERT_DATA_DIR": str(tmp_path)}
    env.pop("SPANBERT_MODEL", None)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "using the bundled small demo model" in result.stdout + result.stderr
    if script.name == "quickstart.py":
        assert result.stdout.count("->") >= 3 and "Pei" in result.stdout  # answered from the example corpus

