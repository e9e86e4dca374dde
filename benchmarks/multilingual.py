"""Multilingual: the multilingual reader (scripts/build_multilingual_model.py) against the English demo reader, on
Portuguese (squad2-dev-pt.json, zero-shot) and on English held-out questions, plus retrieval choices on Portuguese.

Reader figures come from `spanbert-qa eval` on a seeded sample of questions, the store holding every paragraph of
the dataset (Portuguese: all 1,204 paragraphs of squad2-dev-pt.json; English: the 4 held-out articles of
squad11-train-subset.json plus the 10,033 Wikipedia summaries, the demo reader's open-domain setting):
gold-paragraph EM/F1 with the HasAns/NoAns split, and open-domain EM at k = 1/5/10 through the in-memory BM25
pipeline. Retrieval figures: recall@k of the question's own paragraph for in-memory BM25, dense retrieval with the
multilingual-e5-small encoder (with and without its "query: " / "passage: " prefixes) and BM25 + dense joined by
reciprocal rank fusion (the hybrid pipeline's joiner).

    python benchmarks/multilingual.py --model runs/multilingual-e5-qa
    python benchmarks/multilingual.py --model runs/multilingual-e5-qa --questions 50 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from common import ROOT, SHARED_DATA, machine_line, write_section  # noqa: E402

PT = SHARED_DATA / "squad2-dev-pt.json"
EN = SHARED_DATA / "squad11-train-subset.json"
WIKI = SHARED_DATA / "wiki-summaries-en.json"


def sample_squad(path: Path, n: int, seed: int, out: Path) -> Path:
    """A SQuAD file with ``n`` questions drawn with ``seed`` from ``path`` (articles and paragraphs kept)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = [qa["id"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    keep = set(random.Random(seed).sample(ids, min(n, len(ids))))
    articles = []
    for article in data["data"]:
        paragraphs = [{**p, "qas": [qa for qa in p["qas"] if qa["id"] in keep]} for p in article["paragraphs"]]
        paragraphs = [p for p in paragraphs if p["qas"]]
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    out.write_text(json.dumps({"version": data.get("version", "v2.0"), "data": articles}, ensure_ascii=False),
                   encoding="utf-8")
    return out


def run_eval(model: Path, dataset: Path, distractors: list[Path], ks: str, out: Path) -> dict:
    from spanbert_reader.cli import main as cli

    command = ["eval", "--dataset", str(dataset), "--model", str(model), "--retriever-top-k", ks, "--output",
               str(out), "--no-progress", "--distractors", *map(str, distractors)]
    if cli(command) != 0:
        raise SystemExit(f"eval failed: {' '.join(command)}")
    return json.loads((out / "metrics.json").read_text())


def retrieval_recall(dataset: Path, corpus: Path, st_model: Path, ks: list[int]) -> dict[str, dict[int, float]]:
    """Recall@k of each question's paragraph over every paragraph of ``corpus``, per retrieval choice."""
    from haystack import Document
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )

    from spanbert_reader.data.squad import load_squad

    contexts = sorted({p["context"] for a in json.loads(corpus.read_text(encoding="utf-8"))["data"]
                       for p in a["paragraphs"]})
    examples = load_squad(dataset).examples
    depth = max(ks)
    stores, text_embedders = {}, {}
    for prefixed in (True, False):  # e5's "passage: " / "query: " prefixes, and none
        embedder = SentenceTransformersDocumentEmbedder(model=str(st_model), prefix="passage: " if prefixed else "",
                                                        progress_bar=False, batch_size=32)
        embedder.warm_up()
        store = InMemoryDocumentStore()
        store.write_documents(embedder.run(documents=[Document(content=c) for c in contexts])["documents"])
        stores[prefixed] = store
        text_embedders[prefixed] = SentenceTransformersTextEmbedder(model=str(st_model), progress_bar=False,
                                                                    prefix="query: " if prefixed else "")
        text_embedders[prefixed].warm_up()
    bm25 = InMemoryBM25Retriever(stores[True], top_k=depth)
    dense_retrievers = {prefixed: InMemoryEmbeddingRetriever(store, top_k=depth) for prefixed, store in stores.items()}
    joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=depth)
    hits: dict[str, dict[int, int]] = {name: dict.fromkeys(ks, 0) for name in
                                       ("bm25", "dense (prefixes)", "dense (no prefixes)", "hybrid (prefixes)")}
    for example in examples:
        found = {"bm25": bm25.run(query=example.question)["documents"]}
        for prefixed in (True, False):
            vector = text_embedders[prefixed].run(text=example.question)["embedding"]
            dense = dense_retrievers[prefixed].run(query_embedding=vector)["documents"]
            found[f"dense ({'prefixes' if prefixed else 'no prefixes'})"] = dense
            if prefixed:
                found["hybrid (prefixes)"] = joiner.run(documents=[found["bm25"], dense])["documents"]
        for name, docs in found.items():
            texts = [d.content for d in docs]
            for k in ks:
                hits[name][k] += example.context in texts[:k]
    return {name: {k: 100 * v / len(examples) for k, v in by_k.items()} for name, by_k in hits.items()}


def _reader_rows(label: str, metrics: dict, ks: list[int]) -> str:
    o = metrics["oracle"]
    noans = f"{o['NoAns_exact']:.1f}" if o.get("NoAns_total") else "–"
    em_k = " / ".join(f"{metrics['ks'][str(k)]['reader']['exact']:.1f}" for k in ks)
    recall = " / ".join(f"{metrics['ks'][str(k)]['retriever_recall']:.1f}" for k in ks)
    return (f"| {label} | {metrics['dataset']['questions']} | {o['exact']:.1f} / {o['f1']:.1f} | "
            f"{o['HasAns_exact']:.1f} / {o['HasAns_f1']:.1f} | {noans} | {em_k} | {recall} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the multilingual reader (scripts/build_multilingual_model.py)")
    parser.add_argument("--demo", default=str(ROOT / "spanbert_reader" / "models" / "minilm-squad-demo"))
    parser.add_argument("--encoder", default=None, help="a built multilingual-e5-small folder (else built)")
    parser.add_argument("--questions", type=int, default=400, help="Portuguese questions (seeded sample)")
    parser.add_argument("--en-questions", type=int, default=300, help="English held-out questions (seeded sample)")
    parser.add_argument("--ks", default="1,5,10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not PT.exists():
        print(f"{PT} is absent; nothing to measure.")
        return 0
    from build_demo_model import split_articles
    from build_multilingual_model import build_encoder, sentence_transformer_folder

    ks = [int(k) for k in args.ks.split(",")]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pt = sample_squad(PT, args.questions, args.seed, work / "pt.json")
        _, dev, _ = split_articles(EN, 4, 13, work / "split")  # the held-out articles of both readers
        en = sample_squad(dev, args.en_questions, args.seed, work / "en.json")
        runs = {("multilingual", "pt"): (args.model, pt, [PT]), ("demo", "pt"): (args.demo, pt, [PT]),
                ("multilingual", "en"): (args.model, en, [dev, WIKI]), ("demo", "en"): (args.demo, en, [dev, WIKI])}
        for (model, language), (path, dataset, distractors) in runs.items():
            print(f"eval: {model} reader on {language} ...", flush=True)
            results[f"{model}/{language}"] = run_eval(Path(path), dataset, distractors, args.ks,
                                                      work / f"{model}-{language}")
        print("retrieval choices on pt ...", flush=True)
        encoder = Path(args.encoder) if args.encoder else build_encoder(work / "e5")
        st_model = sentence_transformer_folder(encoder, work / "e5-st")
        recall = retrieval_recall(pt, PT, st_model, ks)
    print(json.dumps({"readers": {k: {"oracle": v["oracle"], "ks": v["ks"]} for k, v in results.items()},
                      "recall": recall}, indent=1))

    pt_m = results["multilingual/pt"]["oracle"]
    pt_d = results["demo/pt"]["oracle"]
    heads = "| reader | questions | gold paragraph EM / F1 | HasAns EM / F1 | NoAns EM | open-domain EM@" + \
        "/".join(map(str, ks)) + " | BM25 recall@" + "/".join(map(str, ks)) + " |"
    lines = [
        f"## Multilingual: a multilingual-e5-small reader on Portuguese, zero-shot ({datetime.date.today()})", "",
        f"Machine: {machine_line()}. Readers: the multilingual reader (`{Path(args.model).name}`, "
        "multilingual-e5-small fine-tuned on English SQuAD only: scripts/build_multilingual_model.py) and the "
        "English demo reader (all-MiniLM-L6-v2). Portuguese: a seeded sample (seed "
        f"{args.seed}) of {args.questions} questions of squad2-dev-pt.json (SQuAD 2.0 dev machine-translated; about "
        "half impossible), the store holding all 1,204 of its paragraphs. English: a seeded sample of "
        f"{args.en_questions} questions of the 4 held-out articles of squad11-train-subset.json, the store holding "
        "their paragraphs and the 10,033 Wikipedia summaries. Gold paragraph: the reader given the question's own "
        "paragraph, its top answer scored with the SQuAD 2.0 rules (an impossible question is right only when the "
        "reader says 'no answer'); open-domain: in-memory BM25 → reader, fused top answer. Command: "
        f"`python benchmarks/multilingual.py --model {args.model}`.", "",
        heads, "|---|---|---|---|---|---|---|",
        _reader_rows("multilingual, Portuguese", results["multilingual/pt"], ks),
        _reader_rows("English demo, Portuguese", results["demo/pt"], ks),
        _reader_rows("multilingual, English", results["multilingual/en"], ks),
        _reader_rows("English demo, English", results["demo/en"], ks), "",
        f"On Portuguese gold paragraphs the multilingual reader is **{pt_m['f1'] - pt_d['f1']:+.1f} F1** "
        f"({pt_m['HasAns_f1'] - pt_d['HasAns_f1']:+.1f} on answerable questions) against the English demo reader.",
        "",
        "Retrieval on the Portuguese sample, recall@" + "/".join(map(str, ks)) + " of the question's paragraph "
        "among all 1,204 (in-memory store; dense: multilingual-e5-small, mean pooling, normalised; hybrid: BM25 + "
        "dense joined by reciprocal rank fusion, as in `inmemory_hybrid_qa`):", "",
        "| retrieval | recall@" + "/".join(map(str, ks)) + " |", "|---|---|",
        *(f"| {name} | {' / '.join(f'{v:.1f}' for v in by_k.values())} |" for name, by_k in recall.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section("multilingual", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
