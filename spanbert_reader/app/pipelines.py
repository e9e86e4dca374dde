"""The bundled Haystack pipeline YAMLs: list them, load one by name or path with ``${VAR}`` substitution.

``${VAR}`` and ``${VAR:-default}`` are replaced from keyword overrides first, then the environment. Only
component types from an allowlist (``haystack``, ``haystack_integrations``, ``spanbert_reader`` and what the
caller adds) are accepted, checked before anything is imported: Haystack's own loader would import any class
a file names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spanbert_reader.app.errors import AppError
from spanbert_reader.extras import install_hint

ALLOWED_MODULES = ("haystack.", "haystack_integrations.", "spanbert_reader.")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class PipelineError(AppError, ValueError):
    """A pipeline file cannot be loaded; the message names the file (and line when known)."""


@dataclass(frozen=True)
class BundledPipeline:
    """A pipeline YAML shipped with the package."""

    name: str
    path: Path
    description: str


def pipeline_dirs() -> list[Path]:
    """Folders searched for bundled pipelines: the package's own ``spanbert_reader/pipelines`` (package data)."""
    from importlib.resources import files

    return [Path(str(files("spanbert_reader.pipelines")))]


def list_pipelines() -> dict[str, BundledPipeline]:
    """Bundled pipelines by name (file name without ``.yml``)."""
    found: dict[str, BundledPipeline] = {}
    for folder in pipeline_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yml")):
            if path.stem in found:
                continue
            description = ""
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("# description:"):
                    description = line.split(":", 1)[1].strip()
                    break
            found[path.stem] = BundledPipeline(path.stem, path, description)
    return found


def resolve_pipeline(name_or_path: str | os.PathLike) -> Path:
    """The YAML file for a bundled pipeline name or a path."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    bundled = list_pipelines()
    name = str(name_or_path)
    if name.endswith((".yml", ".yaml")) and Path(name).stem not in bundled:
        raise PipelineError(f"Pipeline file '{name}' does not exist.")
    key = Path(name).stem if name.endswith((".yml", ".yaml")) else name
    if key in bundled:
        return bundled[key].path
    raise PipelineError(f"Unknown pipeline '{name}': not a file, and not one of {', '.join(sorted(bundled))}.")


def substitute(text: str, overrides: Mapping[str, Any] | None = None, source: str = "<string>",
               environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset variable without default is an error naming the line."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        def replace(match: re.Match[str], number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            if name in overrides:
                return str(overrides[name])
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise PipelineError(f"{source}, line {number}: variable ${{{name}}} is not set and has no default "
                                f"(set it in the environment or pass {name}=...).")

        lines[number - 1] = _VARIABLE.sub(replace, line)
    return "\n".join(lines)


def _component_types(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str) and ("init_parameters" in node or "." in kind):
            yield kind
        for value in node.values():
            yield from _component_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _component_types(value)


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def check_allowed(data: dict[str, Any], text: str, source: str, extra_allowed: Iterable[str] = ()) -> None:
    """Refuse any component/object type outside the allowlist, before anything is imported."""
    allowed = tuple(ALLOWED_MODULES) + tuple(m if m.endswith(".") else m + "." for m in extra_allowed)
    for component in (data.get("components") or {}).values():
        for kind in _component_types(component):
            if kind in ("env_var", "token"):  # serialised Secret
                continue
            if not kind.startswith(allowed):
                line = _line_of(text, kind)
                where = f"{source}, line {line}" if line else source
                raise PipelineError(
                    f"{where}: type '{kind}' is not allowed; pipelines may only use types from "
                    f"{', '.join(a.rstrip('.') for a in allowed)} (pass allowed_modules=[...] to trust more)."
                )


def parse_pipeline_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse YAML with a message that names the file and line on errors. Aliases (``*name``) are refused before
    anything is built: a few lines of nested aliases expand to billions of nodes ("billion laughs")."""
    try:
        for token in yaml.scan(text):
            if isinstance(token, yaml.AliasToken):
                raise PipelineError(f"{source}, line {token.start_mark.line + 1}: YAML aliases (*{token.value}) are "
                                    "not allowed in pipeline files; write the value out.")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        raise PipelineError(f"{where}: malformed YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("components"), dict):
        raise PipelineError(f"{source}: not a Haystack pipeline (expected a mapping with 'components').")
    for name, component in data["components"].items():
        if not isinstance(component, dict) or not isinstance(component.get("type"), str) or not component["type"]:
            raise PipelineError(f"{source}: component '{name}' needs a 'type' naming its class "
                                "(e.g. haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever).")
        if not isinstance(component.get("init_parameters", {}), dict):
            raise PipelineError(f"{source}: the init_parameters of component '{name}' must be a mapping.")
    if not isinstance(data.get("connections", []), list):
        raise PipelineError(f"{source}: 'connections' must be a list of {{sender, receiver}} mappings.")
    return data


def load_pipeline(name_or_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
                  allowed_modules: Iterable[str] = ()):
    """Load a bundled pipeline (by name) or a YAML file into a Haystack ``Pipeline``.

    Example:
        >>> pipe = load_pipeline("inmemory_qa", {"SPANBERT_MODEL": "path/to/model", "RETRIEVER_TOP_K": 5})
    """
    from haystack import Pipeline
    from haystack.core.errors import DeserializationError
    from haystack.core.errors import PipelineError as HaystackPipelineError

    path = resolve_pipeline(name_or_path)
    source = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{source}: not a YAML pipeline file (not UTF-8 text: byte {exc.start} is "
                            f"0x{exc.object[exc.start]:02x}).") from exc
    except OSError as exc:
        raise PipelineError(f"{source}: cannot be read ({exc.strerror or exc}).") from exc
    if "\x00" in raw:
        raise PipelineError(f"{source}: not a YAML pipeline file (binary data).")
    text = substitute(raw, overrides, source)
    data = parse_pipeline_yaml(text, source)
    extra = tuple(allowed_modules)
    check_allowed(data, text, source, extra)
    data.setdefault("connections", [])
    try:
        patterns = ["spanbert_reader.*"] + [m.rstrip(".") + ".*" for m in extra]
        pipeline = Pipeline.from_dict(data, allowed_modules=patterns)
    except (DeserializationError, HaystackPipelineError, ImportError, TypeError, ValueError, AttributeError,
            KeyError) as exc:
        message = str(exc)
        line = None
        for component in data["components"].values():
            kind = component.get("type", "") if isinstance(component, dict) else ""
            if kind and kind in message:
                line = _line_of(text, kind)
        where = f"{source}, line {line}" if line else source
        missing = re.search(r"No module named '([\w.]+)'", message)
        hint = install_hint(missing.group(1)) if missing else None
        if hint is None and (isinstance(exc, ImportError) or "not imported" in message):
            hint = next((install_hint(k) for k in _component_types(data["components"]) if install_hint(k)), None)
        raise PipelineError(f"{where}: {message}" + (f" ({hint})" if hint else "")) from exc
    refuse_loops(pipeline, source)
    return pipeline


def refuse_loops(pipeline, source: str) -> None:
    """PipelineError naming the loop when the connections form one: a QA or indexing pipeline runs each
    component once, and a loop either has no entry point or runs until Haystack's run limit."""
    import networkx

    try:
        cycle = networkx.find_cycle(pipeline.graph)
    except networkx.NetworkXNoCycle:
        return
    names = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise PipelineError(f"{source}: the connections form a loop ({' -> '.join(names)}); a QA or indexing "
                        "pipeline must send each component's output forward only.")


def warm_up_components(pipeline) -> None:
    """Warm up each component of ``pipeline`` with :func:`warm_up_component`."""
    for name in pipeline.graph.nodes:
        warm_up_component(name, pipeline.get_component(name))


def warm_up_component(name: str, component: Any) -> None:
    """Warm up one component, so one whose model cannot be loaded is named in a PipelineError (a reader's own
    CheckpointError passes through for the caller to handle)."""
    from spanbert_reader.modeling import CheckpointError

    if not hasattr(component, "warm_up"):
        return
    try:
        component.warm_up()
    except CheckpointError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        model = getattr(component, "model", None)
        lines = [line for line in str(exc).splitlines() if line.strip()]
        first = lines[0] if lines else type(exc).__name__
        looks_local = isinstance(model, str) and model.startswith(("/", "./", "../", "~"))
        if looks_local and not Path(model).expanduser().exists():
            first = "no such folder"
        what = f"its model '{model}'" if model else "its resources"
        hint = ""
        if "SentenceTransformers" in type(component).__name__:
            hint = (" Pass a local sentence-transformers folder with --embedding-model PATH or "
                    "EMBEDDING_MODEL=PATH; without network a hub id must already be in the Hugging Face cache.")
        raise PipelineError(f"Component '{name}' cannot load {what}: {first}{hint}") from exc
