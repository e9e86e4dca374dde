"""The SQuAD scorer against hand-computed values of the official SQuAD 2.0 formulas."""

import json
from pathlib import Path

import pytest

from spanbert_reader.data.squad import load_squad
from spanbert_reader.data.text import normalize_answer
from spanbert_reader.evaluation.metrics import compute_exact, compute_f1, score_squad

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"


@pytest.mark.parametrize(("text", "expected"), [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  an   apple, a pear; the end ", "apple pear end"),
    ("Thermal theatre", "thermal theatre"),  # articles only as whole words
    ("Café «Élan»", "café «élan»"),  # unicode letters kept; only ASCII punctuation removed
    ("", ""),
])
def test_normalisation(text, expected):
    assert normalize_answer(text) == expected


def test_exact_and_f1_formulas():
    assert compute_exact("The Cat", "cat.") == 1
    assert compute_f1("", "") == 1.0 and compute_f1("", "something") == 0.0 and compute_f1("x", "") == 0.0
    # gold: "big red dog" (3 tokens), pred: "red dog barked" (3): overlap 2 -> P=R=2/3 -> F1=2/3
    assert compute_f1("big red dog", "red dog barked") == pytest.approx(2 / 3, abs=1e-12)
    # repeated tokens count with multiplicity: gold "a b b", pred "b b b" -> tokens gold [b, b], pred [b, b, b]
    assert compute_f1("a b b", "b b b") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1), abs=1e-12)


def _dataset():
    return {"data": [{"paragraphs": [{"context": "ctx", "qas": [
        {"id": "a", "answers": [{"text": "The big red dog"}, {"text": "red dog"}]},
        {"id": "b", "answers": [{"text": "Paris"}]},
        {"id": "c", "answers": []},
        {"id": "d", "answers": [{"text": "1,000 people"}]},
        {"id": "e", "answers": []},
    ]}]}]}


def test_score_matches_hand_computation():
    predictions = {"a": "a red dog", "b": "paris, france", "c": "", "d": "1000 people", "e": "something"}
    result = score_squad(_dataset(), predictions)
    # a: EM 1 (normalised "red dog"), F1 1 ; b: EM 0, F1 = 2*(1/2)*1/(1/2+1) = 2/3 ; c: 1/1 ; d: EM 1 ("1000 people")
    # e: 0/0
    f1_b = 2 * 0.5 * 1.0 / 1.5
    assert result["exact"] == pytest.approx(100 * 3 / 5, abs=1e-9)
    assert result["f1"] == pytest.approx(100 * (1 + f1_b + 1 + 1 + 0) / 5, abs=1e-9)
    assert result["HasAns_total"] == 3 and result["NoAns_total"] == 2
    assert result["HasAns_exact"] == pytest.approx(100 * 2 / 3, abs=1e-9)
    assert result["NoAns_exact"] == pytest.approx(50.0, abs=1e-9)
    assert "best_f1" not in result


def test_null_odds_thresholds_match_official_rule():
    predictions = {"a": "red dog", "b": "london", "c": "x", "d": "1000 people", "e": ""}
    odds = {"a": -2.0, "b": 0.5, "c": 3.0, "d": -1.0, "e": 4.0}
    result = score_squad(_dataset(), predictions, odds, na_prob_thresh=1.0)
    # thresholded at 1.0: c and e predicted no-answer (correct, both impossible) -> a 1, b 0, c 1, d 1, e 1
    assert result["exact"] == pytest.approx(80.0, abs=1e-9)
    # official best threshold: start with #no-answer = 2, walk by odds: a +1 (3), d +1 (4), b +0 (4), c -1 (3), e 0
    assert result["best_exact"] == pytest.approx(80.0, abs=1e-9)
    assert result["best_exact_thresh"] == -1.0
    # odds all zero but given: thresholds are still reported (the official script does when a file is passed)
    assert "best_f1" in score_squad(_dataset(), predictions, {k: 0.0 for k in odds})


def test_missing_predictions_are_left_out_and_listed():
    result = score_squad(_dataset(), {"a": "red dog", "c": ""})
    assert result["total"] == 2 and result["exact"] == 100.0 and sorted(result["missing"]) == ["b", "d", "e"]


def test_loader_repairs_and_counts_bad_records():
    dataset = load_squad(FIXTURE)
    report = dataset.report.as_dict()
    assert report == {"missing_answers_key": 1, "reanchored_answers": 2, "unanchorable_answers": 1,
                      "duplicate_ids": 1, "empty_contexts": 1, "empty_questions": 0}
    by_id = {e.id: e for e in dataset.examples}
    assert set(by_id) == {"q1", "q2", "q3", "q4", "q5", "q6"}
    q1 = by_id["q1"]
    assert [q1.context[s: s + len(a)] for a, s in zip(q1.answers, q1.answer_starts, strict=True)] == \
        ["east coast of Sicily", "Sicily"]
    assert by_id["q2"].answer_starts == [14]
    assert by_id["q3"].is_impossible and by_id["q5"].is_impossible and not by_id["q6"].is_impossible
    assert by_id["q6"].answer_starts == [-1]


def test_not_squad_is_a_clear_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(ValueError, match="not in SQuAD format: expected SQuAD format"):
        load_squad(path)
    path.write_text("{oops")
    with pytest.raises(ValueError, match="is not JSON"):
        load_squad(path)
