"""Evaluation: the official-compatible SQuAD scorer and open-domain (retrieve → read) evaluation."""

from spanbert_reader.evaluation.squad import (
    SquadDataset,
    compute_exact,
    compute_f1,
    load_squad,
    normalize_answer,
    score_squad,
)

__all__ = ["SquadDataset", "compute_exact", "compute_f1", "load_squad", "normalize_answer", "score_squad"]
