"""Lose nothing: atomic, locked index writes; re-indexing replaces; a damaged index is named, not a traceback."""

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

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
    assert "ulimit -f" in _one_line_exit_2(result) and "previous index is kept" in result.stderr
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


# ----------------------------------------------------------------------------------------- bad input, clear errors
def _squad(qas) -> dict:
    return {"data": [{"title": "t", "paragraphs": [{"context": "Mount Etna is on Sicily.", "qas": qas}]}]}


BAD_SQUAD = {
    "qas-is-a-string": (_squad("oops"), "qas is a str, expected a list"),
    "qa-not-an-object": (_squad([5]), "qas[0] is a int, expected an object"),
    "answers-an-int": (_squad([{"id": "a", "question": "q?", "answers": 3}]), "answers is a int, expected a list"),
    "id-a-list": (_squad([{"id": ["a"], "question": "q?", "answers": []}]), "id is a list, expected a string"),
    "answer-an-int": (_squad([{"id": "a", "question": "q?", "answers": [5]}]), "answers[0] is a int, expected an"),
    "answer-text-an-int": (_squad([{"id": "a", "question": "q?", "answers": [{"text": 7, "answer_start": 0}]}]),
                           "answers[0].text is a int, expected a string"),
}


@pytest.mark.parametrize("case", sorted(BAD_SQUAD))
@pytest.mark.parametrize("command", ["score", "eval", "train"])
def test_malformed_squad_is_one_message_naming_the_field(case, command, tmp_path, capsys):
    data, message = BAD_SQUAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    (tmp_path / "p.json").write_text("{}")
    args = {"score": ["score", "--dataset", str(path), "--predictions", str(tmp_path / "p.json")],
            "eval": ["eval", "--dataset", str(path), "--no-progress", "--output", str(tmp_path / "o")],
            "train": ["train", "--train", str(path), "--model", str(tmp_path / "m"), "--output", str(tmp_path / "t")]}
    assert main(args[command]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.json" in err and "Traceback" not in err


def _broken_models(root: Path, demo: Path) -> dict[str, Path]:
    import shutil

    cases = {}
    for name, edit in {"config-not-json": lambda m: (m / "config.json").write_text("{bad json"),
                       "config-wrong-type": lambda m: (m / "config.json").write_text('{"hidden_size": "big"}'),
                       "weights-empty": lambda m: (m / "model.safetensors").write_bytes(b""),
                       "weights-truncated": lambda m: (m / "model.safetensors").write_bytes(
                           (demo / "model.safetensors").read_bytes()[:5000])}.items():
        folder = root / name
        shutil.copytree(demo, folder)
        edit(folder)
        cases[name] = folder
    return cases


def _demo_and_docs(tmp_path) -> tuple[Path, Path]:
    """The bundled demo reader (skip without it) and a folder with one small document."""
    from spanbert_reader.app.settings import demo_model_path

    demo = demo_model_path()
    if demo is None:
        pytest.skip("the bundled demo reader is not in this checkout")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Mount Etna is on the island of Sicily.")
    return demo, docs


def test_broken_checkpoints_are_one_message_for_ask_and_train(tmp_path, capsys):
    demo, docs = _demo_and_docs(tmp_path)
    assert main(["index", str(docs), "--data-dir", str(tmp_path / "d"), "--no-progress"]) == 0
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    for name, folder in _broken_models(tmp_path / "models", demo).items():
        capsys.readouterr()
        assert main(["ask", "q?", "--model", str(folder), "--data-dir", str(tmp_path / "d")]) == 2, name
        err = capsys.readouterr().err
        assert str(folder) in err and "Traceback" not in err, (name, err)
        assert main(["train", "--train", str(fixture), "--model", str(folder), "--output", str(tmp_path / "o"),
                     "--cpu", "--no-progress"]) == 2, name
        assert str(folder) in capsys.readouterr().err


def test_bad_option_values_are_refused(tmp_path, capsys):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["eval", "--dataset", str(fixture), "--limit", "-1"], "--limit must be at least 1"),
        (["eval", "--dataset", str(fixture), "--limit", "0"], "--limit must be at least 1"),
        (["train", "--train", str(fixture), "--model", "m", "--output", str(tmp_path / "o"), "--max-steps", "0"],
         "max_steps must be at least 1"),
        (["train", "--train", str(fixture), "--model", "m", "--output", str(tmp_path / "a-file")],
         "is a file; pass a folder"),
        (["pretrain", "--corpus", str(fixture), "--model", "m", "--output", str(tmp_path / "p"),
          "--mask-ratio", "1.5"], "mask_ratio must be between 0 and 1"),
        (["ask", "q?", "--store", "elasticsearch", "--es-url", "not a url"], "Elasticsearch at not a url"),
        (["serve", "--port", "99999"], "--port must be between 1 and 65535"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)


def test_bad_prediction_files_are_one_message(tmp_path, capsys):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    (tmp_path / "latin1.json").write_bytes(b'{"q1": "caf\xe9"}')
    (tmp_path / "p.json").write_text('{"q1": "Sicily"}')
    (tmp_path / "odds.json").write_text('{"q1": "high"}')
    assert main(["score", "--dataset", str(fixture), "--predictions", str(tmp_path / "latin1.json")]) == 2
    assert "Cannot read predictions" in capsys.readouterr().err
    assert main(["score", "--dataset", str(fixture), "--predictions", str(tmp_path / "p.json"),
                 "--null-odds", str(tmp_path / "odds.json")]) == 2
    assert "must be numbers" in capsys.readouterr().err


def test_files_that_cannot_be_indexed_say_why(tmp_path, capsys):
    (tmp_path / "lines.jsonl").write_text('{"text": "fine"}\n{"text": "fine too"}\n{broken\n')
    (tmp_path / "shape.json").write_text('{"data": [{"title": "t", "paragraphs": []}]}')
    (tmp_path / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    assert main(["index", str(tmp_path), "--data-dir", str(tmp_path / "d"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "lines.jsonl: invalid JSON on line 3" in err
    assert "shape.json: no text in it" in err
    assert "binary.txt: binary data" in err


def test_a_bad_line_in_a_stdin_batch_is_reported_and_the_batch_goes_on(tmp_path):
    demo, docs = _demo_and_docs(tmp_path)
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "d"), "SPANBERT_MODEL": str(demo)}
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env).returncode == 0
    batch = b"Where is Mount Etna?\n\xff\xfe broken\nquit\nWhat is on Sicily?\n"
    result = subprocess.run([*_cli(), "ask", "--json"], input=batch, env=env, capture_output=True)
    err = result.stderr.decode()
    assert "line 2: not valid UTF-8 text; skipped" in err and "Traceback" not in err
    answered = [json.loads(line)["question"] for line in result.stdout.decode().splitlines()]
    assert answered == ["Where is Mount Etna?", "quit", "What is on Sicily?"]  # "quit" is a question when piped
    assert result.returncode == 1


# ---------------------------------------------------------------------------- round two (issue 24), first part
def _ask_env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "etna.txt").write_text("Mount Etna is an active volcano on the east coast of Sicily.")
    env = {**os.environ, "SPANBERT_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env, capture_output=True).returncode == 0
    return env


def _one_line_exit_2(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return errors[0]


def test_a_checkpoint_asking_for_its_own_code_is_refused_whatever_stdin_says(tmp_path, tiny_qa):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_qa, model)
    marker = tmp_path / "ran"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForQuestionAnswering": "evil.EvilModel", "AutoConfig": "evil.EvilConfig"}
    (model / "config.json").write_text(json.dumps(config))
    result = subprocess.run([*_cli(), "ask", "--model", str(model)], input="y\nWho?\n", env=_ask_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert "auto_map" in _one_line_exit_2(result)
    assert not marker.exists()


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("components: {x: {type: haystack.components.joiners.DocumentJoiner, init_parameters: {n: *i}}}")
    bomb = tmp_path / "bomb.yml"
    bomb.write_text("\n".join(lines) + "\n")
    result = subprocess.run([*_cli(), "ask", "q?", "--pipeline", str(bomb)], env=_ask_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert "aliases" in _one_line_exit_2(result)


def test_a_password_in_the_elasticsearch_url_is_never_printed(tmp_path):
    env = {**_ask_env(tmp_path), "ELASTICSEARCH_URL": "http://user:PASSW0RD@127.0.0.1:1"}
    result = subprocess.run([*_cli(), "ask", "q?", "--store", "elasticsearch"], env=env, capture_output=True,
                            text=True, timeout=120)
    line = _one_line_exit_2(result)
    assert "PASSW0RD" not in result.stderr + result.stdout and "user:***@127.0.0.1:1" in line


def test_a_question_that_is_not_utf8_on_the_command_line_is_one_line(tmp_path):
    result = subprocess.run([*_cli(), "ask", os.fsdecode(b"\xff?")], env=_ask_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    assert "not valid UTF-8" in _one_line_exit_2(result)


def test_train_refuses_to_overwrite_the_model_it_starts_from(tmp_path, tiny_qa):
    import shutil

    from spanbert_reader.training.config import FinetuneConfig

    model = tmp_path / "model"
    shutil.copytree(tiny_qa, model)
    before = (model / "config.json").read_bytes()
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    result = subprocess.run([*_cli(), "train", "--train", str(fixture), "--model", str(model), "--output",
                             str(model), "--max-steps", "1", "--no-progress"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "--overwrite" in _one_line_exit_2(result)
    assert (model / "config.json").read_bytes() == before
    FinetuneConfig(train=str(fixture), model=str(model), output=str(model), overwrite=True).validate()  # allowed


def test_ask_json_is_strict_json_when_metadata_holds_nan(tmp_path):
    docs = tmp_path / "records"
    docs.mkdir()
    (docs / "r.jsonl").write_text('{"text": "Mount Etna is on Sicily.", "weight": NaN, "size": Infinity}\n')
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env, capture_output=True).returncode == 0
    from spanbert_reader.app.settings import demo_model_path

    result = subprocess.run([*_cli(), "ask", "Where is Mount Etna?", "--json", "--model", str(demo_model_path())],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    payload = json.loads(result.stdout, parse_constant=refuse)
    meta = next(a for a in payload["answers"] if not a.get("no_answer"))["meta"]
    assert meta["weight"] is None and meta["size"] is None


def test_fifos_and_broken_links_never_hang_and_are_listed_as_skipped(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Mount Etna is on Sicily.")
    os.mkfifo(folder / "pipe.txt")
    (folder / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([*_cli(), "index", str(folder), "--no-progress"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Indexed 1 file(s)" in result.stdout
    for name, reason in (("pipe.txt", "not a regular file (a FIFO)"), ("dangling.txt", "dangling or looping"),
                         ("loop.txt", "dangling or looping")):
        assert any(name in line and reason in line for line in result.stdout.splitlines()), (name, result.stdout)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    alone = subprocess.run([*_cli(), "index", str(fifo), "--no-progress"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert "No indexable files" in _one_line_exit_2(alone) and "fifo.json: not a regular file (a FIFO)" in alone.stderr
    scored = subprocess.run([*_cli(), "score", "--dataset", str(fifo), "--predictions", str(fifo)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "not a regular file" in _one_line_exit_2(scored)
    looped = tmp_path / "self"
    looped.symlink_to(looped)
    looping = subprocess.run([*_cli(), "index", str(looped), "--no-progress"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert "No indexable files" in _one_line_exit_2(looping) and "self: a symbolic link loop" in looping.stderr


def test_temporary_files_of_killed_saves_are_swept_by_the_next_writer(tmp_path):
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Mount Etna is on Sicily.")
    env = {**os.environ, "SPANBERT_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env, capture_output=True).returncode == 0
    orphan = data / ".default.json.abc123.tmp"  # what a kill -9 during a save leaves
    orphan.write_text("{half a file")
    other = data / ".other.json.xyz.tmp"  # another index's: not ours to remove
    other.write_text("{")
    assert subprocess.run([*_cli(), "index", str(docs), "--no-progress"], env=env, capture_output=True).returncode == 0
    assert not orphan.exists() and other.exists()


def test_more_bad_values_are_one_line(tmp_path):
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    (tmp_path / "doc.txt").write_text("Some text to index.")
    long_name = subprocess.run([*_cli(), "index", str(tmp_path / "doc.txt"), "--index", "x" * 300, "--no-progress"],
                               env=env, capture_output=True, text=True, timeout=120)
    assert "at most 100" in _one_line_exit_2(long_name)
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    evaluated = subprocess.run([*_cli(), "eval", "--dataset", str(fixture), "--output", str(taken), "--model", "m"],
                               env=env, capture_output=True, text=True, timeout=120)
    assert "is a file" in _one_line_exit_2(evaluated)


def test_several_launched_processes_on_a_machine_without_a_gpu_need_cpu(tmp_path, tiny_qa):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check is for machines without a GPU")
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    result = subprocess.run([*_cli(), "train", "--train", str(fixture), "--model", str(tiny_qa), "--output",
                             str(tmp_path / "out"), "--max-steps", "1", "--no-progress"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert "--cpu" in _one_line_exit_2(result)
    assert not (tmp_path / "out" / "training_log.json").exists()


def test_a_broken_reader_named_in_a_custom_yaml_is_an_error_not_the_demo_model(tmp_path):
    from spanbert_reader.app.pipelines import resolve_pipeline

    custom = tmp_path / "custom.yml"
    custom.write_text(resolve_pipeline("inmemory_qa").read_text().replace("${SPANBERT_MODEL:-mrm8488/spanbert-"
                                                                          "finetuned-squadv2}", "/etc"))
    assert "model: /etc" in custom.read_text()
    result = subprocess.run([*_cli(), "ask", "Where is Mount Etna?", "--pipeline", str(custom)],
                            env=_ask_env(tmp_path), capture_output=True, text=True, timeout=300)
    line = _one_line_exit_2(result)
    assert "/etc" in line and "demo model" not in result.stderr


def _in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """``script`` run by sh in a private user + mount namespace, where it may mount a tiny or read-only
    filesystem; skipped where the kernel allows no unprivileged namespaces."""
    import shutil

    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to make a full or read-only filesystem")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    env.pop("SPANBERT_DATA_DIR", None)
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_full_disk_and_a_read_only_data_dir_are_one_line_and_keep_the_old_index(tmp_path):
    exe = " ".join(_cli())
    (tmp_path / "small.txt").write_text("Mount Etna is on Sicily.")
    (tmp_path / "big.txt").write_text(" ".join(f"word{i}" for i in range(60000)))  # ~500 KB of index JSON
    (tmp_path / "full").mkdir()
    full = _in_namespace(f"mount -t tmpfs -o size=256k tmpfs full && {exe} index small.txt --data-dir full "
                         f"--no-progress && cp full/default.json before.json && {exe} index big.txt --data-dir full "
                         "--no-progress; status=$?; cmp full/default.json before.json && ls -a full; exit $status",
                         tmp_path)
    assert "No space left on device" in _one_line_exit_2(full) and "previous index is kept" in full.stderr
    assert ".tmp" not in full.stdout and "default.json" in full.stdout  # old index intact (cmp), no temp file
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    result = _in_namespace(f"mount --bind read-only read-only && mount -o remount,ro,bind read-only && "
                           f"{exe} index small.txt --data-dir read-only --no-progress", tmp_path)
    assert "Read-only file system" in _one_line_exit_2(result) and "--data-dir" in result.stderr


@pytest.mark.parametrize("folder", ["/proc/sys", "/sys/kernel"])
def test_a_kernel_folder_as_data_dir_is_one_line(tmp_path, folder):
    if not Path(folder).is_dir():
        pytest.skip(f"{folder} is not on this system")
    (tmp_path / "doc.txt").write_text("Mount Etna is on Sicily.")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([*_cli(), "index", str(tmp_path / "doc.txt"), "--data-dir", folder, "--no-progress"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert f"Cannot write to the data directory {folder}" in _one_line_exit_2(result)


def test_deeply_nested_json_is_one_line_for_index_score_and_pretrain(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    for name in ("deep.json", "deep.jsonl"):
        (tmp_path / name).write_text(deep)
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*_cli(), *args], env=env, capture_output=True, text=True, timeout=300)

    for name in ("deep.json", "deep.jsonl"):
        result = cli("index", str(tmp_path / name), "--no-progress")
        assert "No indexable files" in _one_line_exit_2(result) and f"{name}: invalid JSON" in result.stderr
        assert "nested too deeply" in result.stderr
    folder = tmp_path / "folder"  # one bad file in a folder is skipped and named; the rest is indexed
    folder.mkdir()
    (folder / "deep.json").write_text(deep)
    (folder / "etna.txt").write_text("Mount Etna is on Sicily.")
    indexed = cli("index", str(folder), "--no-progress")
    assert indexed.returncode == 0 and "deep.json" in indexed.stderr + indexed.stdout, indexed.stderr
    (tmp_path / "p.json").write_text("{}")
    assert "nested too deeply" in _one_line_exit_2(cli("score", "--dataset", str(tmp_path / "deep.json"),
                                                       "--predictions", str(tmp_path / "p.json")))
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
    assert "nested too deeply" in _one_line_exit_2(cli("score", "--dataset", str(fixture), "--predictions",
                                                       str(tmp_path / "deep.json")))
    pretrained = cli("pretrain", "--corpus", str(tmp_path / "deep.json"), "--model", "unused", "--output",
                     str(tmp_path / "out"), "--cpu", "--no-progress")
    assert "no text" in _one_line_exit_2(pretrained) and "nested too deeply" in pretrained.stderr


def test_an_embedding_model_that_cannot_be_loaded_is_one_line_naming_it(tmp_path):
    env = {**_ask_env(tmp_path), "EMBEDDING_MODEL": "/nonexistent"}
    docs = tmp_path / "docs"
    indexed = subprocess.run([*_cli(), "index", str(docs), "--embed", "--no-progress"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert "'/nonexistent': no such folder" in _one_line_exit_2(indexed)
    offline = subprocess.run([*_cli(), "index", str(docs), "--embed", "--no-progress", "--embedding-model",
                              "nobody/no-such-model"], env=env, capture_output=True, text=True, timeout=300)
    assert "'nobody/no-such-model'" in _one_line_exit_2(offline) and "--embedding-model PATH" in offline.stderr
    asked = subprocess.run([*_cli(), "ask", "Where is Etna?", "--pipeline", "inmemory_hybrid_qa"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert "text_embedder" in _one_line_exit_2(asked)


def test_yaml_loops_missing_connections_and_binary_files_are_one_line(tmp_path):
    from spanbert_reader.app.settings import demo_model_path

    joiner = "haystack.components.joiners.document_joiner.DocumentJoiner"
    reader = "haystack_integrations.components.readers.spanbert.reader.SpanBERTReader"
    head = (f"components:\n  a: {{type: {joiner}}}\n  b: {{type: {joiner}}}\n"
            f"  reader: {{type: {reader}, init_parameters: {{model: '{demo_model_path()}'}}}}\nconnections:\n")
    files = {
        "loop.yml": (head + "  - {sender: a.documents, receiver: b.documents}\n"
                     "  - {sender: b.documents, receiver: a.documents}\n"
                     "  - {sender: b.documents, receiver: reader.documents}\n", "loop (a -> b -> a)"),
        "unknown.yml": (head + "  - {sender: a.documents, receiver: nowhere.documents}\n", "nowhere"),
        "half.yml": (head + "  - {sender: a.documents}\n", "Missing receiver"),
    }
    for name, (text, _) in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.yml").write_bytes(Path(sys.executable).resolve().read_bytes()[:4096])
    files["binary.yml"] = ("", "not a YAML pipeline file")
    env = _ask_env(tmp_path)
    for name, (_, message) in files.items():
        result = subprocess.run([*_cli(), "ask", "Where is Etna?", "--pipeline", str(tmp_path / name)], env=env,
                                capture_output=True, text=True, timeout=120)
        line = _one_line_exit_2(result)
        assert name in line and message in line, (name, line)


def test_a_config_asking_for_a_trillion_word_vocabulary_is_one_line(tmp_path, tiny_qa):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_qa, model)
    config = json.loads((model / "config.json").read_text())
    for value in (1e12, 10**12):
        config["vocab_size"] = value
        (model / "config.json").write_text(json.dumps(config))
        result = subprocess.run([*_cli(), "ask", "Where is Etna?", "--model", str(model)], env=_ask_env(tmp_path),
                                capture_output=True, text=True, timeout=120)
        assert "vocab_size" in _one_line_exit_2(result)


def _broken_shim(folder: Path) -> None:
    """A pyenv shim with no version selected: on PATH, but it fails whatever it is asked."""
    folder.mkdir(parents=True)
    shim = folder / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\necho 'The `python3.12' command "
                    "exists in these Python versions: 3.12.1' >&2\nexit 127\n")
    shim.chmod(0o755)


def test_the_gpu_dry_run_finds_a_python_312_behind_a_broken_pyenv_shim(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "find_python312.sh"
    _broken_shim(tmp_path / "shims")
    wrong = tmp_path / "pyenv" / "versions" / "3.12.0" / "bin"  # named 3.12 but really this test's Python
    wrong.mkdir(parents=True)
    (wrong / "python3.12").symlink_to(sys.executable)
    env = {"PATH": f"{tmp_path / 'shims'}:/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "pyenv"),
           "HOME": str(tmp_path)}
    real = subprocess.run(["bash", str(script)], capture_output=True, text=True)  # this machine's own search
    if sys.version_info[:2] != (3, 12) and (Path("/usr/bin/python3.12").exists() or
                                            Path("/usr/local/bin/python3.12").exists()):
        pytest.skip("a system Python 3.12 would be found; this case needs a machine without one")
    none = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert none.returncode == 1 and "no working Python 3.12" in none.stderr and "PYTHON312" in none.stderr
    if real.returncode != 0:
        pytest.skip("no Python 3.12 on this machine to find behind the shim")
    good = tmp_path / "pyenv" / "versions" / "3.12.99" / "bin"
    good.mkdir(parents=True)
    (good / "python3.12").symlink_to(real.stdout.strip())
    found = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.strip() == str(good / "python3.12"), found.stderr
