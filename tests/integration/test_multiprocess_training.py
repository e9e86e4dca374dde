"""Training under a real two-process launch (torchrun, CPU, gloo): each process reads its own shard, gradients
are synchronised, and the learning-rate curve is the single-process one."""

import json
import os
import subprocess
import sys

import pytest
from helpers import make_tiny_qa_model
from synthetic_qa import synthetic_squad

pytestmark = pytest.mark.slow

ARGS = ["--max-seq-length", "48", "--stride", "8", "--max-query-length", "8", "--lr", "1e-3", "--batch-size", "16",
        "--per-device-batch-size", "8", "--epochs", "1", "--cpu", "--no-progress"]


def _train(launcher: list[str], data, model, output):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    command = launcher + ["-m", "spanbert_reader.cli", "train", "--train", str(data), "--model", str(model),
                          "--output", str(output), *ARGS]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((output / "training_log.json").read_text())


def test_two_processes_split_the_data_sync_gradients_and_keep_the_schedule(tmp_path):
    data = tmp_path / "train.json"
    data.write_text(json.dumps(synthetic_squad(160, 1, impossible_fraction=0.2)))
    model = make_tiny_qa_model(tmp_path / "base", base=True, seed=5)
    single = _train([sys.executable], data, model, tmp_path / "one")
    double = _train([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
                    data, model, tmp_path / "two")
    windows = single["train_windows"]
    assert single["processes"] == 1 and single["examples_per_process"] == [windows]
    assert double["processes"] == 2 and double["train_windows"] == windows
    # each process reads about half the windows (not all of them), and no window twice except the few that
    # accelerate repeats to give both processes the same number of batches
    per_process = double["examples_per_process"]
    assert all(count <= windows // 2 + 8 for count in per_process), per_process
    assert sum(per_process) >= windows
    assert double["first_epoch_overlap"] <= 8
    # synchronised gradients keep the two replicas identical
    first, second = double["parameter_checksums"]
    assert first == pytest.approx(second, rel=0, abs=1e-9)
    # same effective batch, same number of optimiser steps, same learning rate at every step
    assert double["plan"]["accumulation"] == 1 and single["plan"]["accumulation"] == 2
    assert [h["lr"] for h in double["history"]] == pytest.approx([h["lr"] for h in single["history"]], rel=1e-9)
    assert double["steps"] == single["steps"] > 1
