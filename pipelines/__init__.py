"""The bundled Haystack pipeline YAMLs: this folder (``pipelines/`` at the repository root, the source of truth)
is installed as the package ``spanbert_reader.pipelines`` with its ``*.yml`` as package data. Also, kept for the
README's import since 0.1, the loader ``from spanbert_reader.pipelines import load_pipeline`` (it lives in
:mod:`spanbert_reader.app.pipelines`)."""

from spanbert_reader.app.pipelines import PipelineError, list_pipelines, load_pipeline

__all__ = ["PipelineError", "list_pipelines", "load_pipeline"]
