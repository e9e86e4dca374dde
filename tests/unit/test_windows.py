import numpy as np
import pytest
from helpers import tiny_tokenizer

from spanbert_reader.inference.windows import (
    WindowSettings,
    WindowTokenizer,
    build_windows,
    max_context_owner,
    window_starts,
)


def test_window_starts_overlap_by_stride():
    starts = window_starts(100, capacity=30, stride=10)
    assert starts[0] == 0 and all(b - a == 20 for a, b in zip(starts, starts[1:], strict=False))
    assert starts[-1] + 30 >= 100 and starts[-2] + 30 < 100
    assert window_starts(0, 30, 10) == [] and window_starts(30, 30, 10) == [0]


def test_consecutive_windows_share_exactly_stride_tokens():
    settings = WindowSettings(max_seq_length=40, stride=7, max_query_length=5)
    passage = np.arange(100, 190)
    windows = build_windows(0, np.array([10, 11, 12]), passage, settings, cls_id=2, sep_id=3)
    for a, b in zip(windows, windows[1:], strict=False):
        a_tokens = set(range(a.passage_start, a.passage_start + a.passage_length))
        b_tokens = set(range(b.passage_start, b.passage_start + b.passage_length))
        assert len(a_tokens & b_tokens) == 7
    covered = set()
    for w in windows:
        assert w.length <= 40
        assert w.input_ids[0] == 2 and w.input_ids[4] == 3 and w.input_ids[-1] == 3
        assert list(w.input_ids[1:4]) == [10, 11, 12]
        types = w.token_type_ids()
        assert types[: w.passage_offset].sum() == 0 and types[w.passage_offset:].all()
        covered.update(range(w.passage_start, w.passage_start + w.passage_length))
    assert covered == set(range(90))


def test_every_token_has_exactly_one_max_context_window():
    settings = WindowSettings(max_seq_length=32, stride=12, max_query_length=4)
    windows = build_windows(0, np.array([9]), np.arange(5, 205), settings, 2, 3)
    owners = np.zeros(200, dtype=int)
    for w in windows:
        owners[w.passage_start: w.passage_start + w.passage_length] += w.max_context
    assert (owners == 1).all()


def test_max_context_prefers_centre():
    owner = max_context_owner(30, [0, 10], capacity=20)
    assert owner[12] == 0 and owner[18] == 1  # token 12: 7 left ctx in w0 vs 2 in w1


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(max_seq_length=60, stride=60, max_query_length=10), "stride=60"),
    (dict(max_seq_length=10, stride=0, max_query_length=10), "leaves no room"),
    (dict(max_seq_length=100, stride=-1, max_query_length=10), "non-negative"),
])
def test_invalid_window_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WindowSettings(**kwargs)


def test_tokenizer_offsets_and_query_truncation():
    wt = WindowTokenizer(tiny_tokenizer())
    text = "Paris is the capital of France."
    [encoded] = wt.tokenize([text])
    pieces = [text[s:e] for s, e in encoded.offsets]
    assert pieces[:3] == ["Paris", "is", "the"]
    query = wt.tokenize(["what is the capital of france " * 20])[0]
    settings = WindowSettings(max_seq_length=64, stride=8, max_query_length=6)
    windows = wt.windows(0, query.ids, encoded, settings)
    assert windows[0].query_length == 6


def test_caller_tokenizer_settings_are_untouched():
    tokenizer = tiny_tokenizer()
    tokenizer.backend_tokenizer.enable_truncation(4)
    wt = WindowTokenizer(tokenizer)
    assert len(wt.tokenize(["the the the the the the the"])[0].ids) == 7
    assert tokenizer.backend_tokenizer.truncation is not None
