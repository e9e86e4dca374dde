"""Ask questions through a QA pipeline and present the answers."""

from __future__ import annotations

from typing import Any


def inject_store(pipeline, store) -> int:
    """Point every component that holds an in-memory document store at ``store``; return how many."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    count = 0
    for name in pipeline.graph.nodes:
        component = pipeline.get_component(name)
        if isinstance(getattr(component, "document_store", None), InMemoryDocumentStore):
            component.document_store = store
            count += 1
    return count


def question_inputs(pipeline, question: str, reader_top_k: int | None = None) -> dict[str, dict[str, Any]]:
    """Feed ``question`` to every open ``query``/``text`` input of the pipeline."""
    data: dict[str, dict[str, Any]] = {}
    for component, sockets in pipeline.inputs().items():
        for socket in sockets:
            if socket in ("query", "text"):
                data.setdefault(component, {})[socket] = question
    return data


def find_answers(result: dict[str, Any]) -> list:
    """The ``answers`` output of a pipeline run."""
    for output in result.values():
        if isinstance(output, dict) and "answers" in output:
            return output["answers"]
    raise KeyError("the pipeline produced no 'answers' output; is a reader connected?")


def source_of(document) -> str:
    """A short human name for where a document came from."""
    meta = document.meta or {}
    for key in ("file_path", "title", "name", "url"):
        if meta.get(key):
            return str(meta[key])
    return document.id[:12]


def marked_context(answer, width: int = 80) -> str:
    """The answer in its document with ``width`` characters either side, the answer marked »like this«."""
    content = answer.document.content
    start, end = answer.document_offset.start, answer.document_offset.end
    left = content[max(0, start - width): start]
    right = content[end: end + width]
    prefix = "…" if start > width else ""
    suffix = "…" if end + width < len(content) else ""
    text = f"{prefix}{left}»{content[start:end]}«{right}{suffix}"
    return " ".join(text.split())


def answer_records(answers: list) -> list[dict[str, Any]]:
    """JSON-ready answers."""
    records = []
    for a in answers:
        if a.data is None:
            records.append({"answer": None, "score": a.score, "no_answer": True})
            continue
        records.append({
            "answer": a.data, "score": a.score, "document_id": a.document.id, "source": source_of(a.document),
            "start": a.document_offset.start, "end": a.document_offset.end, "context": marked_context(a),
            "meta": {k: v for k, v in (a.document.meta or {}).items() if isinstance(v, str | int | float | bool)},
        })
    return records


def format_table(question: str, answers: list) -> str:
    """A readable table of answers."""
    lines = [f"Q: {question}"]
    if not answers:
        lines.append("  (no answers)")
    for rank, a in enumerate(answers, start=1):
        if a.data is None:
            lines.append(f"  {rank}. [no answer]  score {a.score:.3f}")
            continue
        lines.append(f"  {rank}. {a.data}  score {a.score:.3f}  source {source_of(a.document)}")
        lines.append(f"     {marked_context(a)}")
    return "\n".join(lines)
