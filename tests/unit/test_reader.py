"""SpanBERTReader: the Haystack component's contract and its bad-input handling."""

import json
import logging

import pytest
from haystack import Document, Pipeline
from haystack.dataclasses import ExtractedAnswer
from helpers import make_qa_checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanbert_reader import SpanBERTReader
from spanbert_reader.modeling import CheckpointError

DOCS = [
    Document(content="Paris is the capital of France. The Seine flows through Paris.", meta={"page_number": 3}),
    Document(content="Berlin is the capital of Germany.\fIt is a city on the river Spree."),
    Document(content="Python is a programming language released in 1991."),
]


@pytest.fixture(scope="module")
def reader(tiny_qa):
    r = SpanBERTReader(model=str(tiny_qa), top_k=5)
    r.warm_up()
    return r


@pytest.fixture(scope="module")
def minilm_reader(minilm_qa):
    r = SpanBERTReader(model=str(minilm_qa), top_k=5)
    r.warm_up()
    return r


def _check_offsets(answers):
    for a in answers:
        if a.data is None:
            assert a.document is None
            continue
        assert a.document.content[a.document_offset.start: a.document_offset.end] == a.data
        assert a.data.strip() != ""


def test_run_returns_sorted_answers_with_consistent_offsets(reader):
    answers = reader.run(query="What is the capital of France?", documents=DOCS)["answers"]
    assert all(isinstance(a, ExtractedAnswer) for a in answers)
    spans = [a for a in answers if a.data is not None]
    assert len(spans) == 5 and sum(a.data is None for a in answers) == 1
    assert [a.score for a in spans] == sorted((a.score for a in spans), reverse=True)
    null = next(a for a in answers if a.data is None)  # placed by the abstention rule: first, or after the best
    assert answers.index(null) == (0 if null.meta["abstained"] else 1)
    assert all(0.0 <= a.score <= 1.0 for a in answers)
    _check_offsets(answers)
    plain = SpanBERTReader(model=reader.model, top_k=5, calibrate=False)  # TER's scores: all sorted by score
    answers = plain.run(query="What is the capital of France?", documents=DOCS)["answers"]
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)


def test_page_number_meta(reader):
    answers = reader.run(query="capital", documents=DOCS[:1], top_k=3)["answers"]
    for a in answers:
        if a.data is not None:
            assert a.meta["answer_page_number"] == 3


def test_zero_overrides_are_honoured(reader):
    assert reader.run(query="capital?", documents=DOCS, top_k=0, no_answer=False)["answers"] == []
    only_null = reader.run(query="capital?", documents=DOCS, top_k=0)["answers"]
    assert len(only_null) == 1 and only_null[0].data is None  # the no-answer's score does not depend on top_k:
    best = reader.run(query="capital?", documents=DOCS, top_k=1)["answers"]
    assert only_null[0].score == next(a.score for a in best if a.data is None)
    all_answers = reader.run(query="capital?", documents=DOCS, score_threshold=0.0)["answers"]
    assert len(all_answers) == 6


def test_max_answer_length_limits_tokens(reader):
    answers = reader.run(query="capital?", documents=DOCS, max_answer_length=1, top_k=10, no_answer=False)
    tokenizer = reader.span_reader.engine.window_tokenizer
    for a in answers["answers"]:
        assert len(tokenizer.tokenize([a.data])[0].ids) == 1


def test_run_batch_equals_run(reader):
    queries = ["What is the capital of France?", "When was Python released?", "Which river?"]
    groups = [DOCS, DOCS[2:], DOCS[:2]]
    batched = reader.run_batch(queries, groups)["answers"]
    for q, docs, answers in zip(queries, groups, batched, strict=True):
        single = reader.run(query=q, documents=docs)["answers"]
        assert [(a.data, a.document_offset and a.document_offset.start) for a in single] == \
            [(a.data, a.document_offset and a.document_offset.start) for a in answers]
        assert [a.score for a in single] == pytest.approx([a.score for a in answers], abs=1e-6)


def test_batch_size_does_not_change_answers(tiny_qa):
    small = SpanBERTReader(model=str(tiny_qa), batch_size=1, max_seq_length=32, stride=8, max_query_length=8)
    large = SpanBERTReader(model=str(tiny_qa), batch_size=64, max_seq_length=32, stride=8, max_query_length=8)
    a = small.run(query="capital of France", documents=DOCS)["answers"]
    b = large.run(query="capital of France", documents=DOCS)["answers"]
    assert [x.data for x in a] == [y.data for y in b]
    assert [x.score for x in a] == pytest.approx([y.score for y in b], abs=1e-5)


def test_long_document_windows(tiny_qa):
    r = SpanBERTReader(model=str(tiny_qa), max_seq_length=48, stride=16, max_query_length=8, top_k=50,
                       overlap_threshold=None, no_answer=False)
    doc = Document(content=" ".join(f"Paris {i} is the capital." for i in range(200)))
    answers = r.run(query="capital?", documents=[doc])["answers"]
    _check_offsets(answers)
    assert len({(a.document_offset.start, a.document_offset.end) for a in answers}) == len(answers)
    assert max(a.document_offset.end for a in answers) > 500  # answers come from later windows too


@pytest.mark.slow  # a 1 MB document through the whole reader; runs in CI, skip with -m "not slow"
def test_one_megabyte_document_is_answered(tiny_qa):
    r = SpanBERTReader(model=str(tiny_qa), batch_size=64, top_k=3)
    text = ("The Seine flows through Paris and reaches the sea at Le Havre. " * 17000)[:1_000_000]
    answers = r.run(query="Where does the Seine reach the sea?", documents=[Document(content=text)])["answers"]
    assert len(answers) == 4
    _check_offsets(answers)


def test_empty_documents_give_only_no_answer(reader):
    answers = reader.run(query="anything?", documents=[])["answers"]
    assert len(answers) == 1 and answers[0].data is None
    assert reader.run(query="anything?", documents=[], no_answer=False)["answers"] == []


def test_blank_documents_are_skipped_with_one_warning(reader, caplog):
    blank = [Document(content=None, id="no-text"), Document(content="   \n\t", id="blank"), DOCS[0]]
    with caplog.at_level(logging.WARNING):
        answers = reader.run(query="capital?", documents=blank)["answers"]
    warnings = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1 and "no-text" in warnings[0].getMessage() and "blank" in warnings[0].getMessage()
    assert all(a.document is None or a.document.id == DOCS[0].id for a in answers)


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_value_error(reader, query):
    with pytest.raises(ValueError, match="query is empty"):
        reader.run(query=query, documents=DOCS)


def test_non_documents_are_a_type_error_naming_the_index(reader):
    with pytest.raises(TypeError, match=r"documents\[1\] must be a haystack.Document, got str"):
        reader.run(query="q?", documents=[DOCS[0], "not a document"])
    with pytest.raises(TypeError, match="query must be a str"):
        reader.run(query=None, documents=DOCS)


def test_request_limits(tiny_qa):
    r = SpanBERTReader(model=str(tiny_qa), max_documents=2, max_document_chars=40)
    with pytest.raises(ValueError, match="at most 2 \\(max_documents\\)"):
        r.run(query="q?", documents=DOCS)
    with pytest.raises(ValueError, match="max_document_chars"):
        r.run(query="q?", documents=DOCS[:1])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(top_k=-1), "top_k"), (dict(batch_size=0), "batch_size"), (dict(precision="int4"), "precision"),
    (dict(no_answer_method="magic"), "no_answer_method"), (dict(stride=400), "stride"),
    (dict(overlap_threshold=2.0), "overlap_threshold"),
])
def test_invalid_init_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpanBERTReader(model="unused", **kwargs)


def test_base_checkpoint_fails_at_warm_up(tmp_path):
    from helpers import tiny_hf_config, tiny_tokenizer
    from transformers import BertModel

    tokenizer = tiny_tokenizer()
    BertModel(tiny_hf_config(len(tokenizer))).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="it is a base model"):
        SpanBERTReader(model=str(tmp_path)).warm_up()


def test_serialisation_round_trip_through_pipeline_yaml(tiny_qa):
    reader = SpanBERTReader(model=str(tiny_qa), top_k=4, max_answer_length=12, null_threshold=1.5)
    data = reader.to_dict()
    assert data["type"] == "haystack_integrations.components.readers.spanbert.reader.SpanBERTReader"
    assert data["init_parameters"]["token"]["type"] == "env_var"
    again = SpanBERTReader.from_dict(data)
    assert again.to_dict() == data
    pipeline = Pipeline()
    pipeline.add_component("reader", reader)
    loaded = Pipeline.loads(pipeline.dumps())  # no allowlisting needed
    assert loaded.get_component("reader").to_dict() == data


def test_null_threshold_file_and_null_logit_method(tmp_path):
    from spanbert_reader.component import write_null_threshold

    folder = make_qa_checkpoint(tmp_path / "m")
    plain = SpanBERTReader(model=str(folder))
    plain.warm_up()
    assert plain.span_reader.settings.no_answer_method == "estimate"
    write_null_threshold(folder, -2.5)
    tuned = SpanBERTReader(model=str(folder))
    tuned.warm_up()
    settings = tuned.span_reader.settings
    assert settings.no_answer_method == "null_logit" and settings.null_threshold == -2.5
    answers = tuned.run(query="capital?", documents=DOCS)["answers"]
    null = next(a for a in answers if a.data is None)
    best = max(a.meta["logit"] for a in answers if a.data is not None)
    assert null.meta["method"] == "calibrated" and null.meta["null_rule"] == "null_logit"
    assert null.meta["predicted"] == (null.meta["null_logit"] - best > -2.5)
    # the no-answer is ranked first exactly when it is predicted
    assert (answers[0].data is None) == null.meta["predicted"]
    explicit = SpanBERTReader(model=str(folder), null_threshold=100.0)
    explicit.warm_up()
    assert explicit.span_reader.settings.null_threshold == 100.0
    assert json.loads((folder / "null_threshold.json").read_text())["null_threshold"] == -2.5


TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ.,\t\n東京😀éeשלום\u0301\u200bßΩİ\u00ad")), min_size=1, max_size=60,
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=1, max_size=3))
def test_offsets_always_match_the_answer_text(minilm_reader, texts):
    docs = [Document(content=t) for t in texts]
    answers = minilm_reader.run(query="what?", documents=docs, top_k=5)["answers"]
    _check_offsets(answers)


def test_span_head_stays_fp32_when_the_encoder_runs_in_bf16(tiny_qa):
    import torch
    from haystack import Document

    reader = SpanBERTReader(model=str(tiny_qa), precision="bf16")
    reader.warm_up()
    model = reader.span_reader.model
    assert model.qa_outputs.weight.dtype == torch.float32 and model.qa_outputs.bias.dtype == torch.float32
    assert model.bert.embeddings.word_embeddings.weight.dtype == torch.bfloat16
    answers = reader.run(query="what?", documents=[Document(content="a b c d e f")])["answers"]
    assert answers


def test_telemetry_data_names_the_model_like_transformers_reader(tiny_qa):
    reader = SpanBERTReader(model=str(tiny_qa))
    assert reader._get_telemetry_data() == {"model": str(tiny_qa)}


def test_the_component_is_a_thin_layer_over_the_haystack_free_reader(tiny_qa):
    from spanbert_reader.inference.reader import SpanReader

    docs = [Document(content=text, score=score) for text, score in
            (("Paris is the capital of France.", 3.0), ("Berlin is the capital of Germany.", 1.0))]
    component = SpanBERTReader(model=str(tiny_qa), top_k=3, retriever_weight=2.0)
    haystack_answers = component.run(query="capital?", documents=docs)["answers"]
    core = SpanReader(str(tiny_qa), scoring=component.span_reader.scoring)
    plain = core.answer(["capital?"], [[d.content for d in docs]], [[d.score for d in docs]], top_k=3)[0]
    assert [(a.data, round(a.score, 9)) for a in haystack_answers] == [(a.text, round(a.score, 9)) for a in plain]
    for extracted, answer in zip(haystack_answers, plain, strict=True):
        if answer.text is not None:
            assert extracted.document is docs[answer.passage]
            assert (extracted.document_offset.start, extracted.document_offset.end) == (answer.start, answer.end)
            assert extracted.meta["passage_rank"] == answer.passage + 1
    assert component.fusion_profile is None and component.batch_size == 32  # init values stay readable
    with pytest.raises(AttributeError):
        component.no_such_parameter  # noqa: B018


def test_model_cannot_change_once_loaded(tiny_qa, tmp_path):
    reader = SpanBERTReader(model="somewhere/else")
    reader.model = str(tiny_qa)  # before loading (the CLI's demo fallback does this)
    reader.warm_up()
    with pytest.raises(RuntimeError, match="cannot change"):
        reader.model = str(tmp_path)
