"""Lexical evidence for calibration: the shares of the question's content words in the answer's passage, sentence
and surrounding words, and how much of the answer repeats the question."""

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
