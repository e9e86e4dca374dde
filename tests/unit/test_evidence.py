"""Evidence for calibration: the shares of the question's content words in the answer's passage, sentence and
surrounding words, how much of the answer repeats the question, and the answer's share of the candidates."""

import math

import pytest

from spanbert_reader.inference.calibration import FIT_FEATURES, answer_features
from spanbert_reader.inference.decoding import CharSpan
from spanbert_reader.inference.engine import QueryPrediction
from spanbert_reader.inference.evidence import NAMES, QuestionEvidence

PASSAGE = ("Paris is a large city. The Eiffel Tower was built in 1889 for the World's Fair. "
           "Many tourists visit it every year.")


def _span(passage: str, text: str) -> tuple[int, int]:
    start = passage.index(text)
    return start, start + len(text)


def test_an_answer_in_the_sentence_that_matches_the_question_has_full_coverage():
    evidence = QuestionEvidence("When was the Eiffel Tower built?")
    start, end = _span(PASSAGE, "1889")
    values = evidence.features(PASSAGE, start, end)
    assert set(values) == set(NAMES)
    assert values["question_coverage"] == 1.0 and values["sentence_coverage"] == 1.0
    assert values["window_coverage"] == 1.0 and values["answer_in_question"] == 0.0
    assert values["log_answer_words"] == pytest.approx(0.6931, abs=1e-3)  # log(1 + 1 word)


def test_an_answer_from_another_sentence_or_an_unrelated_passage_has_less():
    evidence = QuestionEvidence("When was the Eiffel Tower built?")
    start, end = _span(PASSAGE, "every year")
    other_sentence = evidence.features(PASSAGE, start, end)
    assert other_sentence["question_coverage"] == 1.0 and other_sentence["sentence_coverage"] == 0.0
    unrelated = "Berlin lies on the Spree and was founded in 1237."
    start, end = _span(unrelated, "1237")
    assert evidence.features(unrelated, start, end)["question_coverage"] == 0.0


def test_an_answer_that_repeats_the_question_and_stemmed_words_match():
    evidence = QuestionEvidence("Who founded the Louvre museum?")
    passage = "The founding of the Louvre museum dates to 1793."
    start, end = _span(passage, "Louvre museum")
    values = evidence.features(passage, start, end)
    assert values["answer_in_question"] == 1.0
    assert values["question_coverage"] == 1.0  # "founded" ~ "founding" (first 5 letters)


def test_a_question_of_only_function_words_counts_as_covered():
    assert QuestionEvidence("What is it?").coverage("anything at all") == 1.0


def test_answer_features_carry_the_evidence_of_the_query_the_prediction_read():
    start, end = _span(PASSAGE, "1889")
    prediction = QueryPrediction([CharSpan(0, start, end, 5.0, 5.0)], None, [None], 5.0, [PASSAGE], None,
                                 "When was the Eiffel Tower built?")
    row = answer_features(prediction, 1)[0]
    assert set(FIT_FEATURES) <= set(row)
    assert row["sentence_coverage"] == 1.0
    unrelated = QueryPrediction([CharSpan(0, start, end, 5.0, 5.0)], None, [None], 5.0, [PASSAGE], None,
                                "Who wrote Hamlet?")
    assert answer_features(unrelated, 1)[0]["question_coverage"] == 0.0


def test_shares_of_the_answer_and_its_text_passage_null_odds_and_the_retrieval_gap():
    seine = "The Seine flows through Paris."
    louvre = "The Louvre is in Paris, on the Seine."
    spans = [CharSpan(0, *_span(seine, "Paris"), 4.0, 4.0), CharSpan(1, *_span(louvre, "Paris"), 3.0, 3.0),
             CharSpan(1, *_span(louvre, "Seine"), 2.0, 2.0)]
    prediction = QueryPrediction(spans, -1.0, [-2.0, 1.5], 4.0, [seine, louvre], [12.0, 3.0], "Where is the Seine?")
    rows = answer_features(prediction, 3)
    exp = [math.exp(s) for s in (4.0, 3.0, 2.0)]
    shares = [e / sum(exp) for e in exp]
    assert [row["answer_share"] for row in rows] == pytest.approx(shares)
    # both "Paris" spans share one text: each carries the two shares together; "Seine" only its own
    assert rows[0]["text_share"] == pytest.approx(shares[0] + shares[1]) == rows[1]["text_share"]
    assert rows[2]["text_share"] == pytest.approx(shares[2])
    # each answer's own passage null logit minus its reader logit
    assert [row["passage_null_odds"] for row in rows] == pytest.approx([-6.0, -1.5, -0.5])
    assert all(row["retrieval_gap"] == pytest.approx(0.75) for row in rows)  # (12 - 3) / 12
    # no retriever scores, one passage, a best score <= 0, or no passage null: the neutral value 0
    plain = answer_features(QueryPrediction(spans[:1], None, [None], 4.0, [seine], None, "q"), 1)[0]
    assert plain["retrieval_gap"] == 0.0 and plain["passage_null_odds"] == 0.0 and plain["answer_share"] == 1.0
    flat = QueryPrediction(spans, None, [None, None], 4.0, [seine, louvre], [-1.0, -3.0], "q")
    assert answer_features(flat, 1)[0]["retrieval_gap"] == 0.0
