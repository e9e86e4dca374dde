"""``PassageSplitter``: Documents → passages at paragraph and heading boundaries (see
:mod:`spanbert_reader.data.passages`), each with the document's meta plus ``section``, ``title`` and ``passage``."""

from __future__ import annotations

from typing import Any

from haystack import Document, component

from spanbert_reader.data.passages import split_passages


@component
class PassageSplitter:
    """Splits each Document on its own into passages of whole paragraphs (at most ``split_length`` words; longer
    paragraphs in windows overlapping by ``split_overlap`` words), keeping headings on a line of their own."""

    def __init__(self, split_length: int = 150, split_overlap: int = 20) -> None:
        if not isinstance(split_length, int) or not isinstance(split_overlap, int) or split_length < 1 \
                or not 0 <= split_overlap < split_length:
            raise ValueError(f"split_length must be >= 1 and 0 <= split_overlap < split_length, got {split_length} "
                             f"and {split_overlap}")
        self.split_length = split_length
        self.split_overlap = split_overlap

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """The passages of every document with text (documents without text are dropped)."""
        passages = []
        for document in documents:
            if not document.content or not document.content.strip():
                continue
            for index, passage in enumerate(split_passages(document.content, self.split_length, self.split_overlap)):
                meta = {**document.meta, "passage": index, "source_id": document.id}
                if "\f" in document.content:
                    meta["page_number"] = passage.page
                if passage.section:
                    meta["section"] = passage.section
                if passage.title and not meta.get("title"):
                    meta["title"] = passage.title
                passages.append(Document(content=passage.text, meta=meta))
        return {"documents": passages}
