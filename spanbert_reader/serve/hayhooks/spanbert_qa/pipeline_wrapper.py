"""The question-answering endpoint for Hayhooks: `hayhooks run --pipelines-dir <this folder's parent>` serves it
at POST /spanbert_qa/run, as `spanbert-qa serve` does (configured from the environment then; see
spanbert_reader.serve.wrapper)."""

from spanbert_reader.serve.wrapper import PipelineWrapper  # noqa: F401
