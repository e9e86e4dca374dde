"""Property tests: malformed SQuAD, JSON-records and pipeline YAML inputs give a clear error (one exception type
that the CLI reports as a message) or a result, never anything else."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanbert_reader.app.errors import AppError
from spanbert_reader.app.indexing import check_file
from spanbert_reader.app.pipelines import load_pipeline
from spanbert_reader.data.squad import load_squad

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["data", "paragraphs", "context", "qas", "id", "question",
                                                       "answers", "text", "answer_start", "title", "is_impossible",
                                                       "content", "x"]), children, max_size=5),
                    max_leaves=20)
SQUADISH = st.fixed_dictionaries({"data": st.lists(st.fixed_dictionaries({}, optional={
    "title": JSON, "paragraphs": st.lists(st.fixed_dictionaries({}, optional={
        "context": st.text(max_size=40) | JSON,
        "qas": st.lists(st.fixed_dictionaries({}, optional={
            "id": JSON, "question": st.text(max_size=20) | JSON, "is_impossible": JSON,
            "answers": st.lists(st.fixed_dictionaries({}, optional={"text": st.text(max_size=10) | JSON,
                                                                    "answer_start": JSON}), max_size=3) | JSON,
        }) | JSON, max_size=3) | JSON}) | JSON, max_size=3) | JSON}) | JSON, max_size=3) | JSON}) | JSON
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=SQUADISH)
def test_squad_loader_gives_a_dataset_or_a_value_error(tmp_path, data):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data))
    try:
        dataset = load_squad(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    for example in dataset.examples:
        assert isinstance(example.question, str) and isinstance(example.context, str)
        for answer, start in zip(example.answers, example.answer_starts, strict=True):
            assert start == -1 or example.context[start: start + len(answer)] == answer


@FUZZ
@given(data=SQUADISH | JSON, as_lines=st.booleans(), garbage=st.binary(max_size=20))
def test_record_files_are_indexable_or_have_a_reason(tmp_path, data, as_lines, garbage):
    path = tmp_path / ("r.jsonl" if as_lines else "r.json")
    text = "\n".join(json.dumps(x) for x in data) if as_lines and isinstance(data, list) else json.dumps(data)
    path.write_bytes(text.encode() + (garbage if as_lines else b""))
    reason = check_file(path)
    assert reason is None or (isinstance(reason, str) and reason)


@FUZZ
@given(text=st.text(max_size=200) | st.builds(lambda name, kind: f"components:\n  {name}:\n    type: {kind}\n",
                                              st.text(max_size=10), st.text(max_size=30)))
def test_pipeline_yaml_loads_or_gives_a_pipeline_error(tmp_path, text):
    path = tmp_path / "p.yml"
    path.write_text(text, encoding="utf-8")
    try:
        load_pipeline(path)
    except AppError as exc:
        assert str(path) in str(exc) or "Pipeline" in str(exc) or "pipeline" in str(exc)
