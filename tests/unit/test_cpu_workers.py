"""The CPU thread policy: single-threaded passes side by side give the answers one pass gives."""

import threading

import numpy as np
import pytest
import torch
from helpers import make_qa_checkpoint, random_windows

from spanbert_reader.inference import cpu_workers
from spanbert_reader.inference.batching import WindowRunner
from spanbert_reader.inference.settings import RuntimeSettings
from spanbert_reader.modeling import SpanBertForQuestionAnswering


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return SpanBertForQuestionAnswering.from_pretrained(str(make_qa_checkpoint(tmp_path_factory.mktemp("m"))))


def _windows(n: int = 11):
    return random_windows(n, seed=1)


def _logits(runner, windows):
    out = {}
    for batch in runner.run(windows, batch_size=16):
        for row, index in enumerate(batch.indices):
            n = windows[index].length
            out[index] = (batch.start_logits[row, :n].copy(), batch.end_logits[row, :n].copy())
    return out


def test_balanced_split_covers_every_index_once_and_balances_lengths():
    lengths = [90, 10, 40, 40, 35, 5, 60, 20, 20]
    groups = cpu_workers.balanced_split(lengths, 3)
    assert len(groups) == 3
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    loads = [sum(lengths[i] for i in g) for g in groups]
    assert max(loads) - min(loads) <= max(lengths)
    for g in groups:
        assert [lengths[i] for i in g] == sorted((lengths[i] for i in g), reverse=True)
    assert cpu_workers.balanced_split([7], 4) == [[0]]
    assert cpu_workers.balanced_split([], 2) == []


def test_run_parallel_runs_ops_single_threaded_and_restores_the_thread_count():
    before = torch.get_num_threads()
    seen = []

    def task(i):
        seen.append((torch.get_num_threads(), cpu_workers.worker_count()))
        return i * 2

    assert cpu_workers.run_parallel([lambda i=i: task(i) for i in range(5)], 2) == [0, 2, 4, 6, 8]
    assert all(threads == 1 for threads, _ in seen)
    assert all(reported == before for _, reported in seen)  # what was set before, not the temporary 1
    assert torch.get_num_threads() == before


def test_a_failing_task_still_restores_the_thread_count_after_every_task_ended():
    before = torch.get_num_threads()
    release = threading.Event()
    finished = []

    def slow():
        release.wait(5)
        finished.append(True)
        return 1

    def failing():
        release.set()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cpu_workers.run_parallel([failing, slow], 2)
    assert finished == [True]
    assert torch.get_num_threads() == before


def test_nested_and_concurrent_callers_restore_the_original_count():
    before = torch.get_num_threads()
    with cpu_workers.single_threaded_ops():
        with cpu_workers.single_threaded_ops():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    threads = [threading.Thread(target=cpu_workers.run_parallel, args=([lambda: torch.ones(8).sum()] * 4, 2))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("packed", [True, False])
def test_workers_give_the_logits_of_one_pass(model, packed):
    windows = _windows()
    one = _logits(WindowRunner(model, torch.device("cpu"), 0, packed=packed, cpu_workers=1), windows)
    for workers in (2, 3):
        split = _logits(WindowRunner(model, torch.device("cpu"), 0, packed=packed, cpu_workers=workers), windows)
        assert set(split) == set(one) == set(range(len(windows)))
        for i in one:
            np.testing.assert_allclose(one[i][0], split[i][0], atol=1e-5)
            np.testing.assert_allclose(one[i][1], split[i][1], atol=1e-5)


def test_bad_cpu_workers_is_refused_clearly(model):
    with pytest.raises(ValueError, match="cpu_workers must be an integer >= 1"):
        RuntimeSettings(cpu_workers=0)
    with pytest.raises(ValueError, match="cpu_workers"):
        WindowRunner(model, torch.device("cpu"), 0, cpu_workers=True)


def test_reader_answers_are_the_same_with_and_without_workers(tiny_qa):
    from spanbert_reader.inference.reader import SpanReader

    passages = [["Paris is the capital of France and its largest city.", "The Seine flows through Paris.",
                 "Berlin is the capital of Germany."] * 3]
    answers = {}
    for workers in (1, 2):
        reader = SpanReader(str(tiny_qa), device="cpu", runtime=RuntimeSettings(cpu_workers=workers))
        answers[workers] = reader.answer(["What is the capital of France?"], passages, top_k=5)[0]
    assert [a.text for a in answers[1]] == [a.text for a in answers[2]]
    for a, b in zip(answers[1], answers[2], strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-5)
