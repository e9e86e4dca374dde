"""The one way from settings to a ready QA pipeline (used by ``ask``, ``eval`` and ``serve``), its inputs, and
how answers are presented."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from spanbert_reader.app.elasticsearch import check_elasticsearch_stores
from spanbert_reader.app.errors import AppError
from spanbert_reader.app.pipelines import load_pipeline, warm_up_components
from spanbert_reader.app.settings import AppSettings, demo_model_path
from spanbert_reader.app.stores import (
    StoreError,
    has_embeddings,
    inject_store,
    load_memory_store,
    uses_memory_store,
)

logger = logging.getLogger(__name__)

PASSAGE_WIDTH = 400  # characters of passage shown either side of an answer


@dataclass
class QAPipeline:
    """A loaded (and usually warmed-up) QA pipeline with what was chosen for it."""

    pipeline: Any
    name: str
    model: str
    notes: list[str] = field(default_factory=list)  # things the user should be told (e.g. a model fallback)


def default_pipeline_name(settings: AppSettings, store=None) -> str:
    """The bundled pipeline for the settings' store (hybrid when an in-memory ``store`` holds embeddings)."""
    if settings.pipeline:
        return settings.pipeline
    if settings.store == "elasticsearch":
        return "elasticsearch_qa"
    return "inmemory_hybrid_qa" if store is not None and has_embeddings(store) else "inmemory_qa"


def _open_memory_index(settings: AppSettings, require_documents: bool):
    store = load_memory_store(settings.index_name, settings.data_dir, must_exist=require_documents)
    if require_documents and store.count_documents() == 0:
        raise StoreError(f"The in-memory index '{settings.index_name}' is empty: run `spanbert-qa index PATH...` "
                         "first.")
    return store


def build_qa_pipeline(settings: AppSettings, *, memory_store=None, require_documents: bool = True,
                      warm_up: bool = True, **overrides: Any) -> QAPipeline:
    """Load, check and warm up the QA pipeline the settings describe.

    A custom pipeline YAML is validated first (allowlist, syntax, variables), so its error is the one the user
    sees. Then each store the pipeline reads is checked: in-memory retrievers get ``memory_store`` or the saved
    index ``settings.index`` (which must exist and hold documents when ``require_documents``); Elasticsearch
    stores must answer (and hold the index when ``require_documents``). Without an explicit model, a reader
    that cannot be loaded (offline, no hub access) falls back to the bundled demo reader, with a note.
    Raises :class:`~spanbert_reader.app.errors.AppError` subclasses for everything a user can fix.
    """
    from spanbert_reader.modeling import CheckpointError

    store = memory_store
    if settings.pipeline is None and settings.store == "memory" and store is None:
        store = _open_memory_index(settings, require_documents)
    name = default_pipeline_name(settings, store)
    values = settings.overrides(**overrides)
    pipeline = load_pipeline(name, values)
    if not any("answers" in sockets for sockets in
               pipeline.outputs(include_components_with_connected_outputs=True).values()):
        raise AppError(f"Pipeline '{name}' has no component with an 'answers' output: add a reader "
                       "(type: haystack_integrations.components.readers.spanbert.reader.SpanBERTReader).")
    if uses_memory_store(pipeline):
        if store is None:
            store = _open_memory_index(settings, require_documents)
        inject_store(pipeline, store)
    check_elasticsearch_stores(pipeline, settings, require_documents)
    built = QAPipeline(pipeline, name, values["SPANBERT_MODEL"])
    if not warm_up:
        return built
    try:
        warm_up_components(pipeline)
    except CheckpointError as exc:
        # only the reader failed: point it at the demo reader; the rest of the pipeline stays as built and checked.
        # Only the default hub model falls back: a model the user named (--model, $SPANBERT_MODEL, or their own
        # pipeline YAML) that cannot be loaded is their error to see.
        from haystack_integrations.components.readers.spanbert.reader import DEFAULT_MODEL

        failed = pipeline.get_component(reader_of(pipeline)).model
        demo, note = demo_fallback(settings.model if failed == DEFAULT_MODEL else failed, failed, exc)
        pipeline.get_component(reader_of(pipeline)).model = demo
        try:
            warm_up_components(pipeline)
        except CheckpointError as demo_error:
            demo_fallback(demo, demo, demo_error)  # raises AppError naming the problem
        built.model = demo
        built.notes.append(note)
    return built


def demo_fallback(chosen: str | None, tried: str, error: Exception) -> tuple[str, str]:
    """When the default reader (no model chosen) cannot be loaded, the bundled demo reader and a note saying so;
    otherwise AppError with ``error``'s message and what to pass."""
    demo = demo_model_path()
    if chosen is not None or demo is None:
        raise AppError(f"{error}\nPass a local reader checkpoint with --model PATH or SPANBERT_MODEL=PATH.") from error
    return str(demo), (f"the default hub model {tried} is not available ({type(error).__name__}); using the "
                       f"bundled small demo model {demo} instead. Pass --model for a real SpanBERT checkpoint.")


def reader_of(pipeline):
    """The name of the pipeline's answer-producing reader component, or None."""
    from spanbert_reader.component import SpanBERTReader

    for name in pipeline.graph.nodes:
        if isinstance(pipeline.get_component(name), SpanBERTReader):
            return name
    return None


def question_inputs(pipeline, question: str, top_k: int | None = None,
                    retriever_top_k: int | None = None) -> dict[str, dict[str, Any]]:
    """Run inputs that feed ``question`` to every open ``query``/``text`` socket; with ``retriever_top_k`` the
    retrievers (and a joiner) pass that many passages on; with ``top_k`` the reader returns that many answers."""
    data: dict[str, dict[str, Any]] = {}
    reader = reader_of(pipeline)
    for component, sockets in pipeline.inputs().items():
        for socket in sockets:
            if socket in ("query", "text"):
                data.setdefault(component, {})[socket] = question
        if retriever_top_k is not None and "top_k" in sockets and component != reader:
            data.setdefault(component, {})["top_k"] = retriever_top_k
    if top_k is not None and reader is not None:
        data.setdefault(reader, {})["top_k"] = top_k
    return data


def find_answers(result: dict[str, Any]) -> list:
    """The ``answers`` output of a pipeline run."""
    for output in result.values():
        if isinstance(output, dict) and "answers" in output:
            return output["answers"]
    raise KeyError("the pipeline produced no 'answers' output; is a reader connected?")


def displayable(text: str) -> str:
    """``text`` with every lone surrogate (a file name byte that was not UTF-8, say) replaced by U+FFFD, so it can
    be printed and encoded as JSON."""
    if text.isascii():
        return text
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def source_of(document) -> str:
    """A short human name for where a document came from: its file (with the JSONL line of its record) or URL,
    and its title."""
    meta = document.meta or {}
    where = next((str(meta[key]) for key in ("file_path", "url", "name") if meta.get(key)), "")
    if where and isinstance(meta.get("line"), int):
        where += f":{meta['line']}"
    title = str(meta["title"]) if meta.get("title") else ""
    if where and title and title not in where:
        return displayable(f"{where} ({title})")
    return displayable(where or title or document.id[:12])


def marked_context(answer, width: int = 80) -> str:
    """The answer in its document with ``width`` characters either side, the answer marked »like this«."""
    content = answer.document.content
    start, end = answer.document_offset.start, answer.document_offset.end
    left = content[max(0, start - width): start]
    right = content[end: end + width]
    prefix = "…" if start > width else ""
    suffix = "…" if end + width < len(content) else ""
    text = f"{prefix}{left}»{content[start:end]}«{right}{suffix}"
    return displayable(" ".join(text.split()))


def passage_window(content: str, start: int, end: int, width: int = PASSAGE_WIDTH) -> tuple[int, str]:
    """The text around ``content[start:end]``: up to ``width`` characters either side, cut at whitespace, and
    where it starts in ``content``."""
    left = max(0, start - width)
    if left > 0:
        space = content.find(" ", left, start)
        left = space + 1 if space != -1 else left
    right = min(len(content), end + width)
    if right < len(content):
        space = content.rfind(" ", end, right)
        right = space if space != -1 else right
    return left, content[left:right]


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return displayable(value) if isinstance(value, str) else value


def answer_records(answers: list) -> list[dict[str, Any]]:
    """JSON-ready answers: every string printable (see :func:`displayable`), non-finite numbers as null."""
    records = []
    for a in answers:
        if a.data is None:
            records.append({"answer": None, "score": a.score, "no_answer": True})
            continue
        start, end = a.document_offset.start, a.document_offset.end
        passage_start, passage = passage_window(a.document.content, start, end)
        rank = (a.meta or {}).get("passage_rank")
        records.append({
            "answer": displayable(a.data), "score": a.score, "document_id": a.document.id,
            "source": source_of(a.document), "start": start, "end": end, "context": marked_context(a),
            "passage": displayable(passage), "passage_start": passage_start,
            "passage_rank": rank if isinstance(rank, int) else None,
            "meta": {displayable(str(k)): _scalar(v) for k, v in (a.document.meta or {}).items()
                     if isinstance(v, str | int | float | bool)},
        })
    return records


def not_found(answers: list) -> bool:
    """Whether the reader says the documents do not answer: no answer at all, or the no-answer ranked first."""
    return not answers or answers[0].data is None


def format_table(question: str, answers: list) -> str:
    """A readable table of answers; "not found in your documents" first when the reader abstains."""
    lines = [f"Q: {question}"]
    if not_found(answers):
        guesses = [a for a in answers if a.data is not None]
        chance = f" (best guess below: {guesses[0].score:.0%} chance of being right)" if guesses else ""
        lines.append(f"  Not found in your documents{chance}.")
        answers = guesses
    for rank, a in enumerate(answers, start=1):
        if a.data is None:
            lines.append(f"  {rank}. [no answer]  score {a.score:.3f}")
            continue
        lines.append(f"  {rank}. {a.data}  score {a.score:.3f}  source {source_of(a.document)}")
        lines.append(f"     {marked_context(a)}")
    return "\n".join(lines)
