import logging

import numpy as np
import pytest
import torch
from helpers import make_qa_checkpoint, random_windows

from spanbert_reader.inference.batching import WindowRunner, make_batches
from spanbert_reader.modeling import SpanBertForQuestionAnswering


def test_make_batches_sorted_and_bounded():
    lengths = [5, 50, 7, 49, 20, 21, 6]
    batches = make_batches(lengths, batch_size=2)
    assert [len(b) for b in batches] == [2, 2, 2, 1]
    assert sorted(i for b in batches for i in b) == list(range(7))
    longest = [max(lengths[i] for i in b) for b in batches]
    assert longest == sorted(longest, reverse=True)
    budget = make_batches(lengths, batch_size=10, max_tokens_per_batch=60)
    for b in budget:
        assert len(b) * max(lengths[i] for i in b) <= 60 or len(b) == 1
    with pytest.raises(ValueError, match="batch_size"):
        make_batches(lengths, 0)


def _windows(n: int = 9):
    return random_windows(n, seed=0)


def _collect(runner, windows, batch_size, max_tokens=None):
    out = {}
    for batch in runner.run(windows, batch_size, max_tokens):
        for row, index in enumerate(batch.indices):
            length = windows[index].length
            out[index] = (batch.start_logits[row, :length], batch.end_logits[row, :length])
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return SpanBertForQuestionAnswering.from_pretrained(str(make_qa_checkpoint(tmp_path_factory.mktemp("m"))))


def test_batched_logits_equal_one_window_at_a_time(model):
    windows = _windows()
    padded = WindowRunner(model, torch.device("cpu"), pad_id=0, packed=False)
    packed = WindowRunner(model, torch.device("cpu"), pad_id=0)
    assert packed.packed and not padded.packed
    single = _collect(padded, windows, 1)
    batched = _collect(padded, windows, 8)
    budget = _collect(padded, windows, 8, max_tokens=100)
    unpadded = _collect(packed, windows, 16)
    assert set(single) == set(range(len(windows))) == set(unpadded)
    for i in single:
        np.testing.assert_allclose(single[i][0], batched[i][0], atol=1e-5)
        np.testing.assert_allclose(single[i][1], budget[i][1], atol=1e-5)
        np.testing.assert_allclose(single[i][0], unpadded[i][0], atol=1e-5)
        np.testing.assert_allclose(single[i][1], unpadded[i][1], atol=1e-5)


def test_packed_encoder_equals_padded_on_real_weights():
    from helpers import minilm_path

    from spanbert_reader.modeling import SpanBertModel
    from spanbert_reader.modeling.encoder import PackedLayout

    model = SpanBertModel.from_pretrained(str(minilm_path()))
    lengths = [37, 5, 64, 12]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (4, 64), generator=g)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        types[row, n // 2: n] = 1
    flat = lambda t: torch.cat([t[r, :n] for r, n in enumerate(lengths)])  # noqa: E731
    positions = torch.cat([torch.arange(n) for n in lengths])
    with torch.no_grad():
        padded = model(ids, mask, types)
        packed = model.forward_packed(flat(ids), flat(types), positions, PackedLayout.from_lengths(lengths, "cpu"))
    assert (flat(padded) - packed).abs().max() < 1e-4
    with pytest.raises(ValueError, match="packed input_ids"):
        model.forward_packed(ids, types, positions, PackedLayout.from_lengths(lengths, "cpu"))


class _OOMAbove(torch.nn.Module):
    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, []

    def forward(self, ids, mask, types):
        self.calls.append(ids.shape[0])
        if ids.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(ids, mask, types)


@pytest.mark.parametrize("workers", [1, 2])
def test_out_of_memory_halves_batch_and_gives_same_answers(model, caplog, workers):
    windows = _windows(40)
    assert len(windows) > 32
    reference = _collect(WindowRunner(model, torch.device("cpu"), 0, cpu_workers=1), windows, 16)
    flaky = _OOMAbove(model, limit=3)
    runner = WindowRunner(flaky, torch.device("cpu"), 0, cpu_workers=workers)
    with caplog.at_level(logging.WARNING):
        result = _collect(runner, windows, 16)
    assert caplog.text.count("Out of memory") == 1
    # the cap counts a whole batch; with workers each pass gets a share of it
    assert runner.batch_size_cap is not None and runner.batch_size_cap <= 3 * workers
    first_ok = next(i for i, n in enumerate(flaky.calls) if n <= 3)
    assert max(flaky.calls[first_ok:]) <= 3  # after the first OOM, no batch is larger than the new cap
    for i in reference:
        np.testing.assert_allclose(reference[i][0], result[i][0], atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_failed_batch_memory_is_released_before_the_retry(model, workers):
    import weakref

    class HoldsActivations(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.failed = inner, []

        def forward(self, ids, mask, types):
            if ids.shape[0] > 2:
                activations = torch.empty(1024)  # stands for the failed batch's activations
                self.failed.append(weakref.ref(activations))
                raise torch.OutOfMemoryError("CUDA out of memory.")
            # the retry: every earlier failed batch's activations must already be gone
            assert all(ref() is None for ref in self.failed), "failed batch still alive during the retry"
            return self.inner(ids, mask, types)

    holder = HoldsActivations(model)
    _collect(WindowRunner(holder, torch.device("cpu"), 0, cpu_workers=workers), _windows(12), 8)
    assert holder.failed


def test_other_runtime_errors_are_not_swallowed(model):
    class Broken(torch.nn.Module):
        def forward(self, *args):
            raise RuntimeError("shape mismatch somewhere")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(WindowRunner(Broken(), torch.device("cpu"), 0).run(_windows(2), 4))
