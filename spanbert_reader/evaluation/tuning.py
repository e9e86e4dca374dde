"""Fusion tuning: grid-search the retriever weight and answer aggregation on an evaluated dataset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanbert_reader.data.squad import SquadDataset, dataset_dict
from spanbert_reader.evaluation.metrics import score_squad
from spanbert_reader.inference.engine import QueryPrediction
from spanbert_reader.inference.ranking import FusionSettings
from spanbert_reader.inference.reader import ranked_answers, top_text
from spanbert_reader.inference.settings import RankSettings

FUSION_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0)


def tune_fusion_settings(dataset: SquadDataset, settings: RankSettings, predictions: Sequence[QueryPrediction],
                         ks: Sequence[int], top_n: int = 1, weights: Sequence[float] = FUSION_WEIGHTS,
                         progress: bool = True) -> dict[str, Any]:
    """Grid-search ``retriever_weight`` × aggregation on/off (the normalisation of ``settings`` kept) for the best
    mean F1 over ``ks``; returns ``{"best": FusionSettings, "grid": [rows]}`` (each row: settings, EM and F1 per
    k)."""
    from tqdm.auto import tqdm

    clean = dataset_dict(dataset.examples)
    current = settings.fusion
    grid = [FusionSettings(w, current.normalization, aggregate) for aggregate in (False, True) for w in weights]
    rows = []
    for fusion in tqdm(grid, desc="Tuning fusion", unit="setting", disable=not progress):
        candidate = settings.with_fusion(fusion)
        per_k = {}
        for k in ks:
            texts = {e.id: top_text(ranked_answers(p, candidate, top_n, k))
                     for e, p in zip(dataset.examples, predictions, strict=True)}
            scores = score_squad(clean, texts)
            per_k[str(k)] = {"exact": scores["exact"], "f1": scores["f1"]}
        mean_f1 = sum(v["f1"] for v in per_k.values()) / len(per_k)
        rows.append({"retriever_weight": fusion.retriever_weight, "aggregate_answers": fusion.aggregate,
                     "retriever_normalization": fusion.normalization, "mean_f1": mean_f1, "ks": per_k})
    best_index = max(range(len(rows)), key=lambda i: (round(rows[i]["mean_f1"], 6), -i))
    return {"best": grid[best_index], "grid": rows}


