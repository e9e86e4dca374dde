"""The package layering the architecture promises, and the one settings object every command uses."""

import subprocess
import sys
from pathlib import Path

import pytest

from spanbert_reader.app.settings import AppSettings

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_cycle_and_core_never_imports_the_outer_layers():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_imports.py")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_take_arguments_then_environment_then_defaults():
    environ = {"SPANBERT_MODEL": "env-model", "ELASTICSEARCH_URL": "http://es:9200", "SPANBERT_DATA_DIR": "/d"}
    settings = AppSettings.from_env(environ, model="arg-model", store="elasticsearch", index=None)
    assert settings.model == "arg-model" and settings.es_url == "http://es:9200" and settings.data_dir == "/d"
    assert settings.index_name == "spanbert" and AppSettings().index_name == "default"
    assert AppSettings.from_env({}).elasticsearch_url == "http://localhost:9200"
    overrides = settings.overrides(RETRIEVER_WEIGHT=2.0)
    assert overrides["INDEX"] == "spanbert" and overrides["SPANBERT_MODEL"] == "arg-model"
    assert overrides["RETRIEVER_WEIGHT"] == 2.0
    with pytest.raises(TypeError, match="unknown settings: colour"):
        AppSettings.from_env({}, colour="blue")
