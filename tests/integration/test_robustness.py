"""Lose nothing: atomic, locked index writes; re-indexing replaces; a damaged index is named, not a traceback."""

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

from spanbert_reader.cli import main


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("spanbert-qa")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]


def _contents(data_dir: Path) -> list[str]:
    saved = json.loads((data_dir / "default.json").read_text())
    return sorted(d["content"] for d in saved["documents"])


def test_a_save_cut_short_by_a_file_size_limit_keeps_the_old_index(tmp_path):
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "small.txt").write_text("Mount Etna is on Sicily.")
    env = {**os.environ, "SPANBERT_DATA_DIR": str(data)}
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env).returncode == 0
    before = (data / "default.json").read_bytes()
    big = tmp_path / "big"
    big.mkdir()
    (big / "big.txt").write_text(" ".join(f"word{i}" for i in range(60000)))  # ~500 KB of index JSON

    def limit():  # the save hits the file-size limit (SIGXFSZ ignored: the write fails with EFBIG)
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    result = subprocess.run([*_cli(), "index", str(big), "--no-progress"], env=env, preexec_fn=limit,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert (data / "default.json").read_bytes() == before  # the old index, intact
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    asked = subprocess.run([*_cli(), "ask", "Where is Mount Etna?", "--json", "--model", "unused-model-path"],
                           env=env, capture_output=True, text=True)
    assert "cannot be read" not in asked.stderr


def test_two_concurrent_writers_lose_nothing(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "SPANBERT_DATA_DIR": str(data)}
    folders = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(30):
            (folder / f"{name}-{i}.txt").write_text(f"Passage {i} of run {name} about topic {i * 17 % 31}.")
        folders.append(folder)
    runs = [subprocess.Popen([*_cli(), "index", str(folder), "--no-progress"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for folder in folders]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    contents = _contents(data)
    assert len(contents) == 60
    assert sum("run one" in c for c in contents) == 30 and sum("run two" in c for c in contents) == 30


def test_in_process_writers_serialise_on_the_lock(tmp_path):
    from spanbert_reader.app.stores import IndexLock

    order = []
    with IndexLock("default", tmp_path):
        waiter = threading.Thread(target=lambda: (IndexLock("default", tmp_path, on_wait=lambda p: order.append(
            "waited")).__enter__(), order.append("entered")))
        waiter.start()
        waiter.join(timeout=1.0)
        assert order == ["waited"]  # blocked while the first holds the lock
        order.append("released")
    waiter.join(timeout=10)
    assert order == ["waited", "released", "entered"]


def test_reindexing_an_edited_file_replaces_its_passages_and_prune_drops_deleted_files(tmp_path, capsys):
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha is the first letter.")
    (docs / "b.txt").write_text("The old text says oranges.")
    args = ["--data-dir", str(data), "--no-progress"]
    assert main(["index", str(docs), *args]) == 0
    ids_before = {d["id"] for d in json.loads((data / "default.json").read_text())["documents"]}
    (docs / "b.txt").write_text("The new text says apples.")
    assert main(["index", str(docs), *args]) == 0
    assert "Replaced 2 old passage(s)" in capsys.readouterr().out
    assert _contents(data) == ["Alpha is the first letter.", "The new text says apples."]
    saved = json.loads((data / "default.json").read_text())["documents"]
    alpha = next(d for d in saved if d["content"].startswith("Alpha"))
    assert alpha["id"] in ids_before  # an unchanged file keeps its document id
    (docs / "a.txt").unlink()
    assert main(["index", str(docs), *args, "--prune"]) == 0
    assert _contents(data) == ["The new text says apples."]


def test_a_damaged_index_is_named_with_how_to_recover(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "default.json").write_text('{"type": "haystack.document_stores.in_memory.document_store.InMem')
    assert main(["ask", "q?", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert str(data / "default.json") in err and "cannot be read" in err and "index" in err
    assert "Traceback" not in err


def test_data_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "doc.txt").write_text("Some text.")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["index", str(tmp_path / "doc.txt"), "--data-dir", str(not_a_dir), "--no-progress"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_failed_index_writes_no_file(tmp_path, capsys):
    data = tmp_path / "data"
    (tmp_path / "bad.bin").write_bytes(b"\x00\x01")
    assert main(["index", str(tmp_path / "bad.bin"), "--data-dir", str(data), "--no-progress"]) == 2
    assert not (data / "default.json").exists()
