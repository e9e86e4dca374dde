"""Index the example corpus in memory and ask its questions with SpanBERTReader.

    python examples/quickstart.py                       # the hub SpanBERT SQuAD 2.0 model (needs network once);
                                                        # offline, the bundled demo model, with a warning
    python examples/quickstart.py --model PATH          # any local QA checkpoint
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
from spanbert_reader.app.qa import demo_fallback
from spanbert_reader.component import DEFAULT_MODEL
from spanbert_reader.modeling import CheckpointError

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help=f"reader checkpoint (default {DEFAULT_MODEL})")
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

    reader = SpanBERTReader(model=args.model or DEFAULT_MODEL, top_k=1)
    try:
        reader.warm_up()
    except CheckpointError as exc:  # offline without --model: the bundled demo reader, as `spanbert-qa ask` does
        model, note = demo_fallback(args.model, DEFAULT_MODEL, exc)
        print(f"warning: {note}")
        reader = SpanBERTReader(model=model, top_k=1)
    qa = Pipeline()
    qa.add_component("retriever", InMemoryBM25Retriever(store, top_k=5))
    qa.add_component("reader", reader)
    qa.connect("retriever.documents", "reader.documents")
    for line in (HERE / "corpus" / "questions.jsonl").read_text().splitlines():
        question = json.loads(line)["question"]
        answers = qa.run({"retriever": {"query": question}, "reader": {"query": question}})["reader"]["answers"]
        best = answers[0]
        print(f"{question}\n  -> {best.data!r} (score {best.score:.3f})")


if __name__ == "__main__":
    main()
