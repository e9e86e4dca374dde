import itertools

import numpy as np
import pytest

from spanbert_reader.inference.decoding import CharSpan, DecodeSettings, PassageDecoder, window_spans
from spanbert_reader.inference.ranking import predict_no_answer, rank_answers, span_probability
from spanbert_reader.inference.windows import WindowSettings, build_windows


def _brute_force(start, end, window, max_len):
    best = None
    for s, e in itertools.product(range(window.passage_length), repeat=2):
        if e < s or (max_len and e - s + 1 > max_len) or not window.max_context[s]:
            continue
        score = start[window.passage_offset + s] + end[window.passage_offset + e]
        if best is None or score > best[2]:
            best = (s + window.passage_start, e + window.passage_start, score)
    return best


@pytest.mark.parametrize("max_len", [None, 1, 5, 30])
def test_window_best_span_equals_brute_force(max_len):
    rng = np.random.default_rng(max_len or 0)
    settings = WindowSettings(max_seq_length=64, stride=20, max_query_length=8)
    agree = checked = 0
    trials = 60
    for _ in range(trials):
        windows = build_windows(0, rng.integers(5, 50, 5), rng.integers(5, 50, int(rng.integers(1, 150))),
                                settings, 2, 3)
        window = windows[int(rng.integers(len(windows)))]
        start, end = rng.normal(size=window.length) * 3, rng.normal(size=window.length) * 3
        spans, null = window_spans(start, end, window, DecodeSettings(20, max_len))
        assert null == pytest.approx(start[0] + end[0])
        expected = _brute_force(start, end, window, max_len)
        if expected is None:
            assert spans == []
            continue
        checked += 1
        assert spans[0].logit == pytest.approx(expected[2])
        agree += (spans[0].start, spans[0].end) == expected[:2]
        assert all(a.logit >= b.logit for a, b in zip(spans, spans[1:], strict=False))
        for span in spans:
            assert span.end >= span.start
            if max_len:
                assert span.end - span.start + 1 <= max_len
    assert agree == checked > 0  # exact decoder: always the brute-force span


def test_passage_decoder_merges_windows_and_takes_min_null():
    settings = WindowSettings(max_seq_length=20, stride=6, max_query_length=3)
    windows = build_windows(0, np.array([7, 8]), np.arange(10, 40), settings, 2, 3)
    assert len(windows) > 1
    decoder = PassageDecoder(1, DecodeSettings(5, 10))
    nulls = []
    for i, w in enumerate(windows):
        start = np.zeros(w.length)
        end = np.zeros(w.length)
        start[0], end[0] = i, 1.0
        nulls.append(i + 1.0)
        start[w.passage_offset] = 5.0
        end[w.passage_offset + 1] = 5.0
        decoder.add(w, start, end)
    assert decoder.null_logit(0) == min(nulls)
    spans = decoder.spans(0)
    assert len({(s.start, s.end) for s in spans}) == len(spans)


def test_rank_answers_dedupes_overlap_like_ter():
    spans = [CharSpan(0, 10, 30, 5.0), CharSpan(0, 12, 20, 4.0), CharSpan(1, 12, 20, 3.5),
             CharSpan(0, 30, 40, 3.0), CharSpan(0, 10, 30, 1.0)]
    kept = rank_answers(spans, [], None, 0.01)
    assert [(c.passage, c.start, c.end) for c in kept] == [(0, 10, 30), (1, 12, 20), (0, 30, 40)]
    assert len(rank_answers(spans, [], None, None)) == 4  # identical spans merged
    assert len(rank_answers(spans, [], 2, 0.01)) == 2
    assert rank_answers(spans, [], 0, 0.01) == []


def test_probability_and_no_answer_rule():
    assert span_probability(0.0, 0.1) == 0.5
    assert span_probability(-1e6, 0.1) == 0.0 and span_probability(1e6, 0.1) == 1.0
    assert predict_no_answer(5.0, 3.0, 1.0) is True
    assert predict_no_answer(5.0, 3.0, 2.5) is False
    assert predict_no_answer(None, 3.0, 0.0) is False and predict_no_answer(1.0, None, 0.0) is True


def test_decode_settings_validation():
    with pytest.raises(ValueError, match="n_best_per_window"):
        DecodeSettings(0)
    with pytest.raises(ValueError, match="max_answer_length"):
        DecodeSettings(5, 0)
