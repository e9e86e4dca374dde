"""Kept for ``from spanbert_reader.pipelines import load_pipeline`` (the README's import since 0.1); the loader
lives in :mod:`spanbert_reader.app.pipelines`."""

from spanbert_reader.app.pipelines import PipelineError, list_pipelines, load_pipeline

__all__ = ["PipelineError", "list_pipelines", "load_pipeline"]
