"""Fine-tune a SpanBERT/BERT checkpoint for extractive QA on SQuAD 1.1 / 2.0 JSON (SpanBERT's recipe).

Windows come from the reader's own window code; a window without the answer, and an impossible question,
target [CLS]; loss = mean of start and end cross-entropy. AdamW (lr 2e-5, weight decay 0.01 except biases and
LayerNorm), linear warm-up over 10% then linear decay, batch 32 (gradient accumulation when the per-device batch
is smaller), 4 epochs, gradient clipping 1.0. ``accelerate`` handles devices, mixed precision and multi-GPU.
Dev evaluation uses the reader's decoder and the official-compatible scorer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spanbert_reader.data import jsonio
from spanbert_reader.data.squad import SquadExample, load_squad
from spanbert_reader.evaluation.metrics import score_squad
from spanbert_reader.inference.decoding import DecodeSettings
from spanbert_reader.inference.windows import WindowSettings, WindowTokenizer, pad_windows
from spanbert_reader.training.config import FinetuneConfig
from spanbert_reader.training.features import TrainFeature, build_features
from spanbert_reader.training.loop import LoopState, make_loader, make_plan, run_loop
from spanbert_reader.training.setup import prepare_optimisation, run_summary, start_run

logger = logging.getLogger(__name__)
STATE_DIR = "training_state"


def collate(features: list[TrainFeature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest window; segment ids 0 for [CLS] query [SEP], 1 after."""
    ids, mask, types = pad_windows(features, pad_id)
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "token_type_ids": torch.from_numpy(types),
            "start_positions": torch.tensor([f.start_position for f in features]),
            "end_positions": torch.tensor([f.end_position for f in features])}


def span_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean of start and end cross-entropy; padding positions can never be targets."""
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    pad = batch["attention_mask"] == 0
    start = out.start_logits.masked_fill(pad, -1e4)
    end = out.end_logits.masked_fill(pad, -1e4)
    return (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2


def evaluate_dev(model, tokenizer, examples: list[SquadExample], windows: WindowSettings, decode: DecodeSettings,
                 device: torch.device, batch_size: int = 64) -> dict[str, Any]:
    """Dev EM/F1 with the reader's decoder; for SQuAD 2.0 data also the best no-answer threshold."""
    from spanbert_reader.data.squad import dataset_dict
    from spanbert_reader.inference.reader import SpanReader
    from spanbert_reader.inference.settings import RuntimeSettings

    was_training = model.training
    model.eval()
    reader = SpanReader.from_model(model, tokenizer, device, windows=windows, decode=decode,
                                   runtime=RuntimeSettings(batch_size=batch_size))
    predictions = reader.predict([e.question for e in examples], [[e.context] for e in examples])
    model.train(was_training)
    texts, odds = {}, {}
    for e, p in zip(examples, predictions, strict=True):
        texts[e.id] = p.best_text  # the best reader-only span
        odds[e.id] = p.null_odds
    clean = dataset_dict(examples)
    if any(e.is_impossible for e in examples):
        scores = score_squad(clean, texts, na_probs=odds, na_prob_thresh=0.0)
        return {"exact": scores["exact"], "f1": scores["f1"], "best_exact": scores["best_exact"],
                "best_f1": scores["best_f1"], "null_threshold": scores["best_f1_thresh"], "selection": "best_f1"}
    scores = score_squad(clean, texts)
    return {"exact": scores["exact"], "f1": scores["f1"], "selection": "f1"}


def finetune(config: FinetuneConfig) -> dict[str, Any]:
    """Run fine-tuning; returns a summary (steps, throughput, memory, dev metrics, loss history, processes)."""
    from spanbert_reader.inference.side_files import write_null_threshold
    from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_tokenizer

    state_dir = Path(config.output) / STATE_DIR
    if config.resume and not (state_dir / "trainer_state.json").exists():
        raise FileNotFoundError(f"--resume: no saved training state in {state_dir}")
    if config.distractors and not config.shared_norm:
        raise ValueError("--distractors needs --shared-norm (the single-paragraph objective reads one paragraph)")
    if config.distractors < 0:
        raise ValueError(f"--distractors must be >= 0, got {config.distractors}")
    if not 0 <= config.negatives <= 1:
        raise ValueError(f"--negatives must be a share between 0 and 1, got {config.negatives}")
    if config.negatives and not config.distractors:
        raise ValueError("--negatives needs --shared-norm and --distractors (the negatives are the distractors)")
    config.validate()
    train = load_squad(config.train)  # the data first: its errors are cheaper to find than a model load
    train_examples = train.examples[: config.train_limit] if config.train_limit else train.examples
    run = start_run(config)
    accelerator, per_device = run.accelerator, run.per_device
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    model = SpanBertForQuestionAnswering.from_pretrained(config.model)
    tokenizer = load_tokenizer(config.model)
    model.train()
    if config.gradient_checkpointing:
        model.bert.encoder.gradient_checkpointing = True
    windows = WindowSettings(config.max_seq_length, config.stride, config.max_query_length)
    decode = DecodeSettings(20, config.max_answer_length)
    window_tokenizer = WindowTokenizer(tokenizer)
    pad_id = window_tokenizer.pad_id

    batch_items = per_device
    if config.shared_norm:
        from spanbert_reader.training.shared_norm import (
            bm25_distractors,
            build_group_features,
            collate_groups,
            shared_norm_loss,
        )

        others = bm25_distractors(train_examples, config.distractors, config.seed)
        features, skipped = build_group_features(train_examples, others, window_tokenizer, windows,
                                                 negatives=config.negatives, seed=config.seed)
        batch_items = max(1, per_device // (1 + config.distractors))  # questions (groups) per forward pass
        make_batch, loss_fn = collate_groups, shared_norm_loss
    else:
        features, skipped = build_features(train_examples, window_tokenizer, windows)
        make_batch, loss_fn = collate, span_loss
    if not features:
        raise ValueError(f"{config.train} produced no training windows")
    if skipped:
        logger.warning("Skipped %d training question(s) whose answer could not be located in the context", skipped)
    dev_examples: list[SquadExample] = []
    if config.dev:
        dev_examples = load_squad(config.dev).examples
        dev_examples = dev_examples[: config.dev_limit] if config.dev_limit else dev_examples
    plan = make_plan(config, len(features), run.processes, batch_items, run.accumulation)
    loader, sampler = make_loader(features, [f.length for f in features], batch_items, config.seed,
                                  lambda items: make_batch(items, pad_id))
    model, optimizer, scheduler, loader = prepare_optimisation(run, config, model, loader, plan)
    accelerator.register_for_checkpointing(scheduler)

    state = LoopState(extra={"best": None, "dev": []})
    if config.resume:
        accelerator.load_state(str(state_dir))
        state = LoopState.from_dict(jsonio.loads((state_dir / "trainer_state.json").read_text()))
        logger.info("Resumed at step %d (epoch %d, batch %d)", state.global_step, state.epoch, state.batch_in_epoch)

    def save_state() -> None:
        accelerator.save_state(str(state_dir))
        if accelerator.is_main_process:
            (state_dir / "trainer_state.json").write_text(json.dumps(state.to_dict()))

    def save_model(metrics: dict[str, Any] | None) -> None:
        if not accelerator.is_main_process:
            return
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.config.extra["trained_with_null"] = any(e.is_impossible for e in train_examples)
        unwrapped.save_pretrained(output, tokenizer=tokenizer)
        if metrics and "null_threshold" in metrics:
            write_null_threshold(output, metrics["null_threshold"], best_f1=metrics["best_f1"], dev=config.dev)

    def run_dev(current: LoopState) -> None:
        if not dev_examples:
            return
        metrics = evaluate_dev(accelerator.unwrap_model(model), tokenizer, dev_examples, windows, decode,
                               accelerator.device)
        metrics["step"] = current.global_step
        best = current.extra["best"]
        if best is None or metrics[metrics["selection"]] > best[metrics["selection"]]:
            current.extra["best"] = metrics
            save_model(metrics)
        accelerator.print(f"step {current.global_step}: dev EM {metrics['exact']:.2f} F1 {metrics['f1']:.2f}"
                          + (f" best-threshold F1 {metrics['best_f1']:.2f}" if "best_f1" in metrics else ""))
        current.extra["dev"].append(metrics)

    def on_step(current: LoopState) -> None:
        if config.eval_steps and current.global_step % config.eval_steps == 0:
            run_dev(current)
        if config.save_steps and current.global_step % config.save_steps == 0:
            save_state()

    def on_epoch_end(current: LoopState) -> None:
        if not config.eval_steps:
            run_dev(current)

    stats = run_loop(accelerator, model, optimizer, scheduler, loader, sampler,
                     lambda batch: (loss_fn(model, batch), {}), total_steps=plan.total_steps, state=state,
                     max_grad_norm=config.max_grad_norm, desc="Fine-tuning", progress=config.progress,
                     stop_after=config.stop_after, on_step=on_step, on_epoch_end=on_epoch_end)
    final_metrics = None
    dev_runs = state.extra["dev"]
    if dev_examples and (not dev_runs or dev_runs[-1]["step"] != state.global_step):
        run_dev(state)
        final_metrics = state.extra["dev"][-1]
    if not dev_examples:
        save_model(None)
    save_state()
    summary = run_summary(run, model, stats, state, plan, config, steps_this_run=stats.steps,
                          train_windows=len(features), skipped_questions=skipped, best_dev=state.extra["best"],
                          dev_history=state.extra["dev"],
                          final_dev=final_metrics or (state.extra["dev"] or [None])[-1])
    if accelerator.is_main_process:
        (output / "training_log.json").write_text(json.dumps(summary, indent=2))
    accelerator.wait_for_everyone()
    return summary
