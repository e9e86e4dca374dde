"""The package layering the architecture promises, and the one settings object every command uses."""

import subprocess
import sys
from pathlib import Path

import pytest

from spanbert_reader.app.errors import AppError
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
    assert "READER_PRECISION" not in overrides  # the YAMLs' own default (auto) applies
    assert AppSettings.from_env({"SPANBERT_PRECISION": "bf16"}).overrides()["READER_PRECISION"] == "bf16"
    assert AppSettings.from_env({"SPANBERT_PRECISION": "bf16"}, precision="int8").precision == "int8"
    with pytest.raises(AppError, match="precision .* must be one of auto, fp32, fp16, bf16, int8; got 'int4'"):
        AppSettings.from_env({"SPANBERT_PRECISION": "int4"})


def test_the_cli_precisions_are_the_readers():
    from spanbert_reader.app.settings import READER_PRECISIONS
    from spanbert_reader.inference.settings import PRECISIONS

    assert READER_PRECISIONS == PRECISIONS


def test_the_package_list_in_pyproject_is_the_tree():
    import tomllib

    from setuptools import find_namespace_packages

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    code = {p for p in find_namespace_packages(str(ROOT), include=["spanbert_reader*", "haystack_integrations*"])
            if any((ROOT / p.replace(".", "/")).rglob("*.py"))}  # folders of code, not data (serve/page, models)
    code |= {"spanbert_reader.models", "spanbert_reader.pipelines"}  # data packages (pipelines/ is at the root)
    assert listed == code


def test_evaluation_sits_below_training_the_component_and_app():
    sys.path.insert(0, str(ROOT / "scripts"))
    import check_imports

    modules = ("spanbert_reader.inference.reader", "spanbert_reader.evaluation.reading",
               "spanbert_reader.training.finetune", "haystack_integrations.components.readers.spanbert.reader",
               "spanbert_reader.app.evaluate", "spanbert_reader.cli.commands")
    order = [check_imports.layer_of(m) for m in modules]
    assert order == sorted(order) and len(set(order)) == len(order)
    graph = check_imports.import_graph()
    assert "spanbert_reader.evaluation.reading" in graph and not any(
        t.startswith("spanbert_reader.app") for t in graph["spanbert_reader.evaluation.reading"])


def test_the_bundled_yamls_default_to_the_one_default_of_each_parameter():
    from spanbert_reader.app.pipelines import list_pipelines
    from spanbert_reader.app.settings import DEFAULT_RETRIEVER_TOP_K, DEFAULT_TOP_K

    bundled = list_pipelines()
    assert all(Path(p.path).parent == ROOT / "pipelines" for p in bundled.values())  # the root folder, editable
    for name, info in bundled.items():
        text = info.path.read_text()
        if "READER_TOP_K" in text:
            assert f"${{READER_TOP_K:-{DEFAULT_TOP_K}}}" in text, name
        for default in __import__("re").findall(r"\$\{RETRIEVER_TOP_K:-(\d+)\}", text):
            assert int(default) == DEFAULT_RETRIEVER_TOP_K, name


def test_help_imports_neither_torch_nor_haystack():
    code = ("import sys, contextlib, io\nfrom spanbert_reader.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    for argv in ([], ['eval', '--help'], ['train', '--help'], ['serve', '--help']):\n"
            "        try:\n            main(argv or ['--help'])\n        except SystemExit:\n            pass\n"
            "heavy = [m for m in ('torch', 'haystack', 'transformers', 'numpy') if m in sys.modules]\n"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_reader_core_imports_no_haystack():
    code = ("import sys\nfrom spanbert_reader.inference.reader import SpanReader\n"
            "print([m for m in sys.modules if m == 'haystack' or m.startswith('haystack.')])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_with_a_progress_bar_takes_no_progress_and_help_shows_defaults():
    from spanbert_reader.cli import build_parser
    from spanbert_reader.cli.parser import k_values

    parser = build_parser()
    for command in ("index", "eval", "train", "pretrain"):
        sub = parser._subparsers._group_actions[0].choices[command]
        assert "--no-progress" in sub._option_string_actions, command
    ask = parser._subparsers._group_actions[0].choices["ask"].format_help()
    assert "(default: 3)" in ask and "(default: 10)" in ask
    ev = parser.parse_args(["eval", "--dataset", "d.json", "--retriever-top-k", "1,5", "10", "--top-k", "2",
                            "--no-progress"])
    assert k_values(ev.retriever_top_k) == [1, 5, 10] and ev.top_k == 2 and ev.progress is False
    assert k_values(parser.parse_args(["eval", "--dataset", "d.json"]).retriever_top_k) == [1, 5, 10, 20]
    with pytest.raises(ValueError, match="'1,x'"):
        k_values(["1,x"])
