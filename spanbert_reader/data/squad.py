"""SQuAD 1.1 / 2.0 data: example types and a loader that repairs or counts bad records instead of crashing."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanbert_reader.data import jsonio

logger = logging.getLogger(__name__)


@dataclass
class SquadExample:
    """One question with its context and gold answers (empty for impossible questions)."""

    id: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int]
    is_impossible: bool
    title: str
    article: int
    paragraph: int

    @property
    def context_key(self) -> tuple[int, int]:
        return (self.article, self.paragraph)


@dataclass
class DataReport:
    """Problems found while loading a dataset; counted, never fatal."""

    missing_answers_key: int = 0
    reanchored_answers: int = 0
    unanchorable_answers: int = 0
    duplicate_ids: int = 0
    empty_contexts: int = 0
    empty_questions: int = 0
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "details"}


@dataclass
class SquadDataset:
    """A loaded SQuAD file: examples in file order, its version and the data report."""

    examples: list[SquadExample]
    version: str
    report: DataReport
    raw: dict[str, Any]


def _anchor(context: str, text: str, start: int | None) -> int | None:
    """``start`` when the answer text is there, else the nearest exact occurrence (None when absent)."""
    if isinstance(start, int) and context[start: start + len(text)] == text:
        return start
    stripped = text.strip()
    occurrences = [m.start() for m in re.finditer(re.escape(stripped), context)] if stripped else []
    if not occurrences:
        return None
    reference = start if isinstance(start, int) else 0
    return min(occurrences, key=lambda o: abs(o - reference))


def load_squad(path: str | Path) -> SquadDataset:
    """Load a SQuAD 1.1 / 2.0 JSON file, repairing or counting bad records instead of crashing."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"Dataset {path} is not a regular file (a folder, FIFO or device); pass a SQuAD JSON file")
    expected = ('expected SQuAD format: {"version": ..., "data": [{"title": ..., "paragraphs": '
                '[{"context": ..., "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}')
    try:
        raw = jsonio.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read dataset {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"Dataset {path} is not JSON ({exc}); {expected}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise ValueError(f"Dataset {path} is not in SQuAD format: {expected}")
    report = DataReport()
    examples: list[SquadExample] = []
    seen: set[str] = set()
    for a_index, article in enumerate(raw["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"Dataset {path}: data[{a_index}] has no 'paragraphs' list; {expected}")
        for p_index, paragraph in enumerate(article["paragraphs"]):
            where = f"Dataset {path}: data[{a_index}].paragraphs[{p_index}]"
            if not isinstance(paragraph, dict):
                raise ValueError(f"{where} is a {type(paragraph).__name__}, expected an object; {expected}")
            context = paragraph.get("context")
            qas = paragraph.get("qas", [])
            if not isinstance(qas, list):
                raise ValueError(f"{where}.qas is a {type(qas).__name__}, expected a list; {expected}")
            if not isinstance(context, str) or not context.strip():
                report.empty_contexts += 1
                report.details.append(f"data[{a_index}].paragraphs[{p_index}]: empty context ({len(qas)} questions)")
                continue
            for q_index, qa in enumerate(qas):
                if not isinstance(qa, dict):
                    raise ValueError(f"{where}.qas[{q_index}] is a {type(qa).__name__}, expected an object; "
                                     f"{expected}")
                raw_id = qa.get("id", f"{a_index}-{p_index}-{len(examples)}")
                if not isinstance(raw_id, str | int):
                    raise ValueError(f"{where}.qas[{q_index}].id is a {type(raw_id).__name__}, expected a string")
                if not isinstance(qa.get("answers", []), list):
                    raise ValueError(f"{where}.qas[{q_index}].answers is a {type(qa['answers']).__name__}, "
                                     "expected a list")
                qid = str(raw_id)
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    report.empty_questions += 1
                    continue
                if qid in seen:
                    report.duplicate_ids += 1
                    report.details.append(f"duplicate question id {qid}: kept the first")
                    continue
                seen.add(qid)
                if "answers" not in qa:
                    report.missing_answers_key += 1
                answers, starts = [], []
                for n_answer, answer in enumerate(qa.get("answers") or []):
                    field = f"{where}.qas[{q_index}].answers[{n_answer}]"
                    if not isinstance(answer, dict):
                        raise ValueError(f"{field} is a {type(answer).__name__}, expected an object "
                                         '{"text": ..., "answer_start": ...}')
                    text = answer.get("text")
                    if text is not None and not isinstance(text, str):
                        raise ValueError(f"{field}.text is a {type(text).__name__}, expected a string")
                    if not text or not text.strip():
                        continue
                    start = answer.get("answer_start")
                    anchored = _anchor(context, text, start)
                    if anchored is None:
                        report.unanchorable_answers += 1
                        report.details.append(f"{qid}: answer {text!r} not found in its context; kept as text only")
                        answers.append(text)
                        starts.append(-1)
                        continue
                    if anchored != start:
                        report.reanchored_answers += 1
                        text = text.strip()
                    answers.append(text)
                    starts.append(anchored)
                impossible = bool(qa.get("is_impossible", False)) or not answers
                examples.append(SquadExample(qid, question, context, [] if impossible else answers,
                                             [] if impossible else starts, impossible, article.get("title", ""),
                                             a_index, p_index))
    if report.unanchorable_answers:
        logger.warning("%s: %d gold answer(s) could not be found in their context", path, report.unanchorable_answers)
    version = str(raw.get("version", "2.0" if any(e.is_impossible for e in examples) else "1.1"))
    return SquadDataset(examples, version, report, raw)


def dataset_dict(examples: Sequence[SquadExample]) -> dict[str, Any]:
    """A clean SQuAD dictionary of the loaded examples (what the official scorer reads)."""
    return {"version": "v2.0", "data": [{"title": "eval", "paragraphs": [
        {"context": e.context, "qas": [{"id": e.id, "question": e.question,
                                         "answers": [{"text": a, "answer_start": s}
                                                     for a, s in zip(e.answers, e.answer_starts, strict=True)]}]}
        for e in examples]}]}
