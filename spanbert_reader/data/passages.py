"""Passages as their authors wrote them: a document is cut at its paragraph and heading boundaries, whole paragraphs
are packed up to a word budget, and a heading is kept on a line of its own (and in the passage's ``section``)
instead of being fused into the next sentence.

Rules, for one document's text:

- paragraphs are separated by blank lines; whitespace inside a paragraph is collapsed to single spaces;
- a heading is a short paragraph (at most :data:`HEADING_WORDS` words, one line) that does not end like a sentence;
  a heading starts a new passage, which begins with the heading, a blank line, then the section's text (the first
  heading at the very start of the document is its ``title``);
- paragraphs of one section are packed into a passage while they fit ``max_words``; a paragraph longer than that is
  cut into windows of ``max_words`` words that overlap by ``overlap`` words;
- a passage never spans two documents (each document is split on its own), and never two sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_WORDS = 12
_BLANK = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_END = (".", "!", "?", ":", ";", ",", "…", '"', "”", "'")


@dataclass(frozen=True)
class Passage:
    """One passage: its text, the heading of its section (None before the first heading), the document's title
    (the heading at its very start, if any) and the page it starts on (1 + form feeds before it: PDF pages)."""

    text: str
    section: str | None
    title: str | None
    page: int = 1


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of ``text``, each with its whitespace collapsed."""
    return [" ".join(block.split()) for block in _BLANK.split(text.replace("\r\n", "\n")) if block.strip()]


def is_heading(paragraph: str, raw_lines: int = 1) -> bool:
    """A short, single-line paragraph that does not end like a sentence."""
    words = paragraph.split()
    return raw_lines == 1 and 0 < len(words) <= HEADING_WORDS and not paragraph.endswith(_SENTENCE_END)


def _windows(words: list[str], max_words: int, overlap: int) -> list[str]:
    step = max(1, max_words - overlap)
    return [" ".join(words[start: start + max_words]) for start in range(0, max(1, len(words) - overlap), step)]


def split_passages(text: str, max_words: int = 150, overlap: int = 20) -> list[Passage]:
    """The passages of one document's ``text`` (see the module docstring)."""
    if max_words < 1 or not 0 <= overlap < max_words:
        raise ValueError(f"need max_words >= 1 and 0 <= overlap < max_words, got {max_words} and {overlap}")
    text = text.replace("\r\n", "\n")
    blocks: list[tuple[str, int]] = []  # (block, page)
    start = 0
    for gap in [*_BLANK.finditer(text), None]:
        end = gap.start() if gap is not None else len(text)
        if text[start:end].strip():
            blocks.append((text[start:end], 1 + text.count("\f", 0, start)))
        start = gap.end() if gap is not None else end
    title: str | None = None
    section: str | None = None
    passages: list[Passage] = []
    body: list[str] = []
    page = 1

    def flush() -> None:
        if body:
            prefix = f"{section}\n\n" if section else ""
            passages.append(Passage(prefix + "\n\n".join(body), section, title, page))
            body.clear()

    for index, (block, block_page) in enumerate(blocks):
        paragraph = " ".join(block.split())
        if paragraph.startswith("#") and len(block.strip().splitlines()) == 1:  # a Markdown heading left as text
            paragraph = paragraph.lstrip("#").strip() or paragraph
        if not body:
            page = block_page
        if is_heading(paragraph, len(block.strip().splitlines())):
            flush()
            if index == 0:
                title = paragraph
            section = paragraph
            continue
        words = paragraph.split()
        budget = max_words - (len(section.split()) if section else 0)
        if len(words) > budget:
            flush()
            for window in _windows(words, max(1, budget), min(overlap, max(0, budget - 1))):
                body.append(window)
                flush()
            continue
        if sum(len(p.split()) for p in body) + len(words) > budget:
            flush()
            page = block_page
        body.append(paragraph)
    flush()
    if not passages and section:  # a document that is only a heading
        passages.append(Passage(section, section, title, page))
    return passages
