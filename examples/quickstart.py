"""Index the example corpus in memory and ask its questions with SpanBERTReader.

    python examples/quickstart.py                       # the hub SpanBERT SQuAD 2.0 model (needs network once)
    python examples/quickstart.py --model PATH          # any local BERT-format QA checkpoint
"""

import argparse
import json
from pathlib import Path

from haystack import Pipeline
from haystack.components.converters import HTMLToDocument, MarkdownToDocument, TextFileToDocument
from haystack.components.joiners import DocumentJoiner
from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
from haystack.components.routers import FileTypeRouter
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from spanbert_reader import SpanBERTReader
from spanbert_reader.component import DEFAULT_MODEL

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()

    store = InMemoryDocumentStore()
    indexing = Pipeline()
    indexing.add_component("router", FileTypeRouter(mime_types=["text/plain", "text/markdown", "text/html"]))
    indexing.add_component("txt", TextFileToDocument())
    indexing.add_component("md", MarkdownToDocument())
    indexing.add_component("html", HTMLToDocument())
    indexing.add_component("join", DocumentJoiner())
    indexing.add_component("clean", DocumentCleaner())
    indexing.add_component("split", DocumentSplitter(split_by="word", split_length=150, split_overlap=20))
    indexing.add_component("write", DocumentWriter(store))
    indexing.connect("router.text/plain", "txt.sources")
    indexing.connect("router.text/markdown", "md.sources")
    indexing.connect("router.text/html", "html.sources")
    for name in ("txt", "md", "html"):
        indexing.connect(f"{name}.documents", "join.documents")
    indexing.connect("join", "clean")
    indexing.connect("clean", "split")
    indexing.connect("split", "write")
    files = [str(p) for p in sorted((HERE / "corpus").iterdir()) if p.suffix in (".txt", ".md", ".html")]
    indexing.run({"router": {"sources": files}})

    qa = Pipeline()
    qa.add_component("retriever", InMemoryBM25Retriever(store, top_k=5))
    qa.add_component("reader", SpanBERTReader(model=args.model, top_k=1))
    qa.connect("retriever.documents", "reader.documents")
    for line in (HERE / "corpus" / "questions.jsonl").read_text().splitlines():
        question = json.loads(line)["question"]
        answers = qa.run({"retriever": {"query": question}, "reader": {"query": question}})["reader"]["answers"]
        best = answers[0]
        print(f"{question}\n  -> {best.data!r} (score {best.score:.3f})")


if __name__ == "__main__":
    main()
