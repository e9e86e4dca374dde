"""Calibrated answer scores: the fit recovers a known mapping, the measures are right, the no-answer's score does
not depend on top_k, and stored, built-in and switched-off calibrations behave as documented."""

import math
import random
import shutil

import pytest
from haystack import Document

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference.calibration import (
    DEFAULT_CALIBRATION,
    FEATURES,
    Calibration,
    auroc,
    brier_score,
    choose_abstain_threshold,
    expected_calibration_error,
    fit_calibration,
    risk_coverage,
)
from spanbert_reader.inference.ranking import span_probability
from spanbert_reader.inference.side_files import stored_calibration, write_calibration

DOCS = [Document(content="Paris is the capital of France. The Seine flows through Paris.", score=4.0),
        Document(content="Berlin is the capital of Germany and lies on the Spree.", score=2.0),
        Document(content="Python is a programming language created by Guido van Rossum.", score=1.0)]


def _synthetic(n: int, seed: int):
    rng = random.Random(seed)
    true = {"fused_logit": 1.2, "margin": 0.8, "null_odds": -0.6}
    rows, labels, chances = [], [], []
    for _ in range(n):
        row = {name: rng.gauss(0, 1) for name in FEATURES}
        z = -0.5 + sum(w * row[name] for name, w in true.items())
        p = 1 / (1 + math.exp(-z))
        rows.append(row)
        chances.append(p)
        labels.append(int(rng.random() < p))
    return rows, labels, chances, true


def test_fitting_recovers_a_known_mapping():
    rows, labels, _, true = _synthetic(6000, seed=1)
    model = fit_calibration(rows, labels, l2=0.1, features=FEATURES)
    for name, weight in zip(model.features, model.weights, strict=True):
        expected = true.get(name, 0.0) * model.scale[model.features.index(name)]  # weights act on standardised x
        assert weight == pytest.approx(expected, abs=0.12), name
    test_rows, test_labels, test_chances, _ = _synthetic(3000, seed=2)
    fitted = [model.probability(r) for r in test_rows]
    errors = [abs(a - b) for a, b in zip(fitted, test_chances, strict=True)]
    assert sum(errors) / len(errors) < 0.03 and max(errors) < 0.2
    assert expected_calibration_error(fitted, test_labels) < 0.04
    assert Calibration.from_dict(model.to_dict()).probability(test_rows[0]) == pytest.approx(fitted[0], abs=1e-4)


def test_the_measures_of_a_confidence():
    assert auroc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
    assert expected_calibration_error([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 1.0], [0, 0]) == pytest.approx(1.0)
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0 and brier_score([0.5], [1]) == 0.25
    assert risk_coverage([0.9, 0.1], [1, 0]) == [(0.5, 1.0), (1.0, 0.5)]
    chances = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.75, 0.1]
    right = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    threshold = choose_abstain_threshold(chances, right)  # keeps 85% of the right answers: 9 of 10
    assert threshold == 0.3 and sum(p >= threshold for p, y in zip(chances, right, strict=True) if y) == 9
    assert choose_abstain_threshold([0.9, 0.2], [0, 0]) == 0.0
    with pytest.raises(ValueError):
        Calibration((1.0,), 0.0, (0.0,), (0.0,), ("fused_logit",))  # a zero scale


def test_the_no_answer_score_does_not_depend_on_top_k(tiny_qa):
    reader = SpanBERTReader(model=str(tiny_qa))
    scores = set()
    for top_k in (1, 2, 3, 5):
        answers = reader.run(query="What is the capital of France?", documents=DOCS, top_k=top_k)["answers"]
        null = next(a for a in answers if a.data is None)
        spans = [a for a in answers if a.data is not None]
        assert null.score == pytest.approx(1 - null.meta["best_chance"]) and null.meta["method"] == "calibrated"
        assert spans[0].score == pytest.approx(null.meta["best_chance"])
        assert [a.score for a in spans] == sorted((a.score for a in spans), reverse=True)
        scores.add(round(null.score, 12))
    assert len(scores) == 1


def test_a_checkpoint_without_a_calibration_uses_the_built_in_one_and_calibrate_false_gives_ter_scores(tiny_qa):
    reader = SpanBERTReader(model=str(tiny_qa))
    reader.warm_up()
    assert reader.span_reader.settings.calibration is DEFAULT_CALIBRATION
    assert reader.span_reader.sources["calibration"].startswith("built-in default")
    plain = SpanBERTReader(model=str(tiny_qa), calibrate=False)
    answers = plain.run(query="capital?", documents=DOCS)["answers"]
    for a in answers:
        if a.data is not None:
            assert a.score == pytest.approx(span_probability(a.meta["fused_logit"], 0.1))
            assert a.meta["uncalibrated_score"] == a.score
    assert plain.to_dict()["init_parameters"]["calibrate"] is False
    assert SpanBERTReader.from_dict(plain.to_dict()).calibrate is False


def test_a_stored_calibration_is_read_and_its_threshold_decides_abstention(tiny_qa, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_qa, folder)
    n = len(FEATURES)
    eager = Calibration((0.0,) * n, 0.0, (0.0,) * n, (1.0,) * n, abstain_threshold=0.0)  # always 0.5, answers
    write_calibration(folder, eager)
    assert stored_calibration(folder) == eager
    answers = SpanBERTReader(model=str(folder)).run(query="capital?", documents=DOCS)["answers"]
    assert answers[0].data is not None and answers[0].score == pytest.approx(0.5)
    assert answers[1].data is None and answers[1].meta["abstained"] is False
    write_calibration(folder, eager.with_threshold(0.9), profile="hybrid")  # a profile's own entry wins
    assert stored_calibration(folder, "hybrid").abstain_threshold == 0.9
    cautious = SpanBERTReader(model=str(folder), fusion_profile="hybrid").run(query="capital?", documents=DOCS)
    first = cautious["answers"][0]
    assert first.data is None and first.meta["abstained"] is True and first.score == pytest.approx(0.5)
    (folder / "fusion.json").write_text('{"calibration": {"weights": "x"}}')
    assert stored_calibration(folder) is None  # a broken record is ignored with a warning
