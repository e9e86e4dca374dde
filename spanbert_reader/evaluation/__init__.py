"""Evaluation: the official-compatible SQuAD scorer and open-domain (retrieve → read) evaluation."""

from spanbert_reader.data.squad import SquadDataset, load_squad
from spanbert_reader.data.text import normalize_answer
from spanbert_reader.evaluation.metrics import compute_exact, compute_f1, score_squad

__all__ = ["SquadDataset", "compute_exact", "compute_f1", "load_squad", "normalize_answer", "score_squad"]
