"""Score fusion (reader + retriever), same-text aggregation, and the fusion settings stored beside a checkpoint."""

import json
import math

import pytest
from haystack import Document

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference.decoding import CharSpan
from spanbert_reader.inference.ranking import (
    DEFAULT_FUSION,
    PROFILE_DEFAULTS,
    FusionSettings,
    normalized_retriever_scores,
    passage_bonus,
    rank_answers,
)
from spanbert_reader.inference.side_files import stored_fusion, write_fusion


def _entry(folder, profile=None) -> dict | None:
    """The raw entry of fusion.json (the main one, or a profile's), as written."""
    data = json.loads((folder / "fusion.json").read_text())
    return data if profile is None else data.get("profiles", {}).get(profile)


DOCS = [
    "Paris is the capital and most populous city of France. The Seine flows through Paris.",
    "Berlin is the capital of Germany. The river Spree flows through Berlin.",
    "Python is a programming language released in 1991 by Guido van Rossum.",
]


@pytest.mark.parametrize("scores, expected", [
    ([12.5, 7.0, 3.0], [1.0, 4.0 / 9.5, 0.0]),  # BM25: unbounded
    ([0.8, 0.5, 0.2], [1.0, 0.5, 0.0]),  # cosine similarity
    ([1 / 61 + 1 / 62, 1 / 61, 1 / 63], None),  # reciprocal rank fusion values near 0.03: still 1 .. 0
    ([5.0], [1.0]),  # one passage: no penalty
    ([3.0, 3.0], [1.0, 1.0]),
    ([4.0, None, 2.0], [1.0, 0.0, 0.0]),  # a passage without a score ranks last
])
def test_minmax_normalisation_maps_every_scale_to_unit_range(scores, expected):
    result = normalized_retriever_scores(scores, "minmax")
    if expected is None:
        assert result[0] == 1.0 and result[-1] == 0.0 and 0 < result[1] < 1
    else:
        assert result == pytest.approx(expected)


def test_other_normalisations():
    assert normalized_retriever_scores([10.0, 5.0, 2.5], "max") == pytest.approx([1.0, 0.5, 0.25])
    assert normalized_retriever_scores([0.2, 0.9, 0.5], "rank") == pytest.approx([1 / 3, 1.0, 0.5])
    assert normalized_retriever_scores([10.0, 7.5], "raw") == pytest.approx([1.0, -1.5])
    assert normalized_retriever_scores([None, None], "minmax") is None
    assert normalized_retriever_scores([float("nan"), True], "minmax") is None  # neither is a usable score


def test_bonus_is_zero_for_the_best_passage_and_absent_without_scores():
    fusion = FusionSettings(retriever_weight=2.0)
    assert passage_bonus([9.0, 3.0, 6.0], fusion) == pytest.approx([0.0, -2.0, -1.0])
    assert passage_bonus([None, None, None], fusion) is None
    assert passage_bonus([9.0, 3.0], FusionSettings(retriever_weight=0.0)) is None
    assert passage_bonus([9.0, 3.0], None) is None


@pytest.mark.parametrize("kwargs", [{"retriever_weight": -1.0}, {"retriever_weight": math.inf},
                                    {"retriever_weight": "2"}, {"normalization": "softmax"},
                                    {"aggregate": "yes"}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        FusionSettings(**kwargs)


def test_fusion_reranks_across_passages_and_aggregation_adds_up():
    passages = ["alpha beta", "alpha gamma", "delta"]
    spans = [CharSpan(0, 0, 5, 3.0), CharSpan(1, 0, 5, 2.5), CharSpan(2, 0, 5, 3.3)]
    assert [s.passage for s in rank_answers(spans, passages, None, None)] == [2, 0, 1]
    fused = rank_answers(spans, passages, None, None, bonus=[0.0, 0.0, -1.0])
    assert [s.passage for s in fused] == [0, 1, 2]
    assert [s.logit for s in fused] == [3.0, 2.5, 3.3] and fused[2].score == pytest.approx(2.3)
    # "alpha" in two passages beats the lone "delta" once their probabilities add up
    merged = rank_answers(spans, passages, None, None, aggregate=True)
    assert [(s.passage, s.count) for s in merged] == [(0, 2), (2, 1)]
    assert merged[0].score == pytest.approx(math.log(math.exp(3.0) + math.exp(2.5)))
    assert len(rank_answers(spans, passages, 1, None, aggregate=True)) == 1


@pytest.fixture(scope="module")
def scored_docs():
    return [Document(content=DOCS[0], score=2.0), Document(content=DOCS[1], score=14.0),
            Document(content=DOCS[2], score=6.0)]


def _key(answers):
    return [(a.data, a.document and a.document.id, a.document_offset and a.document_offset.start, a.score)
            for a in answers]


def test_weight_zero_reproduces_reader_only_answers(tiny_qa, scored_docs):
    reader = SpanBERTReader(model=str(tiny_qa), retriever_weight=0.0, top_k=10, no_answer_method="null_logit",
                            calibrate=False)
    unscored = [Document(id=d.id, content=d.content) for d in scored_docs]
    with_scores = reader.run(query="capital of France", documents=scored_docs)["answers"]
    without = reader.run(query="capital of France", documents=unscored)["answers"]
    assert [(a.data, a.document_offset and a.document_offset.start, a.score) for a in with_scores] == \
        [(a.data, a.document_offset and a.document_offset.start, a.score) for a in without]
    # and the default reader (fusion on) also leaves documents without scores alone
    default = SpanBERTReader(model=str(tiny_qa), top_k=10, no_answer_method="null_logit", calibrate=False)
    assert _key(default.run(query="capital of France", documents=unscored)["answers"]) == _key(without)


def test_fused_scores_follow_the_formula_and_stay_probabilities(tiny_qa, scored_docs):
    weight = 3.0
    reader = SpanBERTReader(model=str(tiny_qa), retriever_weight=weight, top_k=30, calibrate=False)
    answers = [a for a in reader.run(query="capital of France", documents=scored_docs)["answers"] if a.data]
    normalized = {d.id: r for d, r in zip(scored_docs, normalized_retriever_scores([2.0, 14.0, 6.0]), strict=True)}
    for a in answers:
        assert 0.0 <= a.score <= 1.0
        assert a.meta["retriever_score"] == a.document.score
        assert a.meta["fused_logit"] == pytest.approx(a.meta["logit"] - weight * (1 - normalized[a.document.id]))
        assert a.score == pytest.approx(1 / (1 + math.exp(-0.1 * a.meta["fused_logit"])))
        assert a.meta["reader_score"] == pytest.approx(1 / (1 + math.exp(-0.1 * a.meta["logit"])))
    fused = [a.meta["fused_logit"] for a in answers]
    assert fused == sorted(fused, reverse=True)
    # a large weight puts every answer of the best-retrieved document first
    strong = SpanBERTReader(model=str(tiny_qa), retriever_weight=1000.0, top_k=30, no_answer=False)
    top = [a.document.id == scored_docs[1].id for a in strong.run(query="capital", documents=scored_docs)["answers"]]
    assert top[0] and top == sorted(top, reverse=True)


def test_no_answer_rule_ignores_fusion(tiny_qa, scored_docs):
    plain = SpanBERTReader(model=str(tiny_qa), retriever_weight=0.0, no_answer_method="null_logit", calibrate=False)
    fused = SpanBERTReader(model=str(tiny_qa), retriever_weight=50.0, no_answer_method="null_logit", calibrate=False)
    a = next(x for x in plain.run(query="capital", documents=scored_docs)["answers"] if x.data is None)
    b = next(x for x in fused.run(query="capital", documents=scored_docs)["answers"] if x.data is None)
    assert a.score == b.score and a.meta == b.meta


def test_stored_fusion_is_picked_up_and_init_values_win(tiny_qa, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_qa, folder)
    reader = SpanBERTReader(model=str(folder))
    reader.warm_up()
    assert reader.span_reader.settings.fusion == DEFAULT_FUSION  # nothing stored: the built-in default
    write_fusion(folder, FusionSettings(7.5, "rank", True), dataset="x.json")
    assert _entry(folder)["retriever_weight"] == 7.5 and _entry(folder)["dataset"] == "x.json"
    stored = SpanBERTReader(model=str(folder))
    stored.warm_up()
    assert stored.span_reader.settings.fusion == FusionSettings(7.5, "rank", True)
    explicit = SpanBERTReader(model=str(folder), retriever_weight=0.0, aggregate_answers=False)
    explicit.warm_up()
    assert explicit.span_reader.settings.fusion == FusionSettings(0.0, "rank", False)
    (folder / "fusion.json").write_text(json.dumps({"retriever_weight": "heavy"}))
    assert stored_fusion(folder) == DEFAULT_FUSION  # a bad file is ignored with a warning


def test_fusion_parameters_serialise_and_validate(tiny_qa):
    reader = SpanBERTReader(model=str(tiny_qa), retriever_weight=2.5, retriever_normalization="max",
                            aggregate_answers=True)
    params = reader.to_dict()["init_parameters"]
    assert (params["retriever_weight"], params["retriever_normalization"], params["aggregate_answers"]) == \
        (2.5, "max", True)
    again = SpanBERTReader.from_dict(reader.to_dict())
    again.warm_up()
    assert again.span_reader.settings.fusion == FusionSettings(2.5, "max", True)
    for bad in ({"retriever_weight": -1}, {"retriever_normalization": "zscore"}, {"aggregate_answers": "on"}):
        with pytest.raises(ValueError):
            SpanBERTReader(model=str(tiny_qa), **bad)


def test_fusion_weight_from_pipeline_yaml_variable(tiny_qa):
    from spanbert_reader.app.pipelines import load_pipeline

    pipeline = load_pipeline("inmemory_qa", {"SPANBERT_MODEL": str(tiny_qa), "RETRIEVER_WEIGHT": 1.5,
                                             "AGGREGATE_ANSWERS": "true"})
    reader = pipeline.get_component("reader")
    scoring = reader.span_reader.scoring
    assert scoring.retriever_weight == 1.5 and scoring.aggregate_answers is True
    default = load_pipeline("inmemory_qa", {"SPANBERT_MODEL": str(tiny_qa)}).get_component("reader")
    scoring = default.span_reader.scoring
    assert scoring.retriever_weight is None and scoring.aggregate_answers is None


def test_fusion_profiles_are_stored_side_by_side_and_looked_up_in_order(tmp_path):
    main, hybrid, custom = FusionSettings(3.0), FusionSettings(20.0, "rank"), FusionSettings(1.0, "max", True)
    assert stored_fusion(tmp_path, "hybrid") == PROFILE_DEFAULTS["hybrid"] != DEFAULT_FUSION
    assert stored_fusion(tmp_path, "custom") == DEFAULT_FUSION == stored_fusion(tmp_path)
    write_fusion(tmp_path, main, pipeline="inmemory_qa")
    assert stored_fusion(tmp_path, "hybrid") == PROFILE_DEFAULTS["hybrid"]  # a BM25 value never wins a profile
    assert stored_fusion(tmp_path, "custom") == main == stored_fusion(tmp_path)
    write_fusion(tmp_path, hybrid, profile="hybrid", pipeline="inmemory_hybrid_qa")
    write_fusion(tmp_path, custom, profile="custom")
    write_fusion(tmp_path, FusionSettings(5.0), pipeline="inmemory_qa")  # rewriting the main entry keeps profiles
    record = json.loads((tmp_path / "fusion.json").read_text())
    assert record["retriever_weight"] == 5.0 and set(record["profiles"]) == {"hybrid", "custom"}
    assert record["profiles"]["hybrid"]["pipeline"] == "inmemory_hybrid_qa"
    assert (stored_fusion(tmp_path), stored_fusion(tmp_path, "hybrid"), stored_fusion(tmp_path, "custom")) == \
        (FusionSettings(5.0), hybrid, custom)
    assert _entry(tmp_path, "other") is None and stored_fusion(tmp_path, "other") == FusionSettings(5.0)
    with pytest.raises(ValueError, match="fusion_profile"):
        stored_fusion(tmp_path, "../x")


def test_profile_only_file_and_broken_profile_fall_back(tmp_path):
    (tmp_path / "fusion.json").write_text(json.dumps({"profiles": {"hybrid": {"retriever_weight": 9},
                                                                   "bad": {"retriever_weight": -2}}}))
    assert stored_fusion(tmp_path) == DEFAULT_FUSION
    assert stored_fusion(tmp_path, "hybrid") == FusionSettings(9.0)
    assert stored_fusion(tmp_path, "bad") == DEFAULT_FUSION


def test_reader_fusion_profile_picks_its_entry_and_serialises(tiny_qa, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_qa, folder)
    write_fusion(folder, FusionSettings(2.0, "minmax", True))
    write_fusion(folder, FusionSettings(12.0, "minmax", False), profile="hybrid")
    reader = SpanBERTReader(model=str(folder), fusion_profile="hybrid")
    assert reader.to_dict()["init_parameters"]["fusion_profile"] == "hybrid"
    again = SpanBERTReader.from_dict(reader.to_dict())
    again.warm_up()
    assert again.span_reader.settings.fusion == FusionSettings(12.0, "minmax", False)
    plain = SpanBERTReader(model=str(folder))
    plain.warm_up()
    assert plain.span_reader.settings.fusion == FusionSettings(2.0, "minmax", True)
    explicit = SpanBERTReader(model=str(folder), fusion_profile="hybrid", retriever_weight=1.0)
    explicit.warm_up()
    assert explicit.span_reader.settings.fusion.retriever_weight == 1.0  # init values still win over any stored entry
    for bad in ("", "a b", 3):
        with pytest.raises(ValueError, match="fusion_profile"):
            SpanBERTReader(model=str(folder), fusion_profile=bad)


@pytest.mark.parametrize("name, profile", [("inmemory_qa", None), ("inmemory_hybrid_qa", "hybrid"),
                                           ("elasticsearch_qa", None), ("elasticsearch_hybrid_qa", "hybrid")])
def test_bundled_pipelines_name_their_fusion_profile(name, profile, tiny_qa):
    from spanbert_reader.app.pipelines import load_pipeline

    overrides = {"SPANBERT_MODEL": str(tiny_qa), "EMBEDDING_MODEL": "unused", "ELASTICSEARCH_URL": "http://x:9200"}
    reader = load_pipeline(name, overrides).get_component("reader")
    assert reader.fusion_profile == profile
    assert load_pipeline(name, {**overrides, "FUSION_PROFILE": "mine"}).get_component("reader").fusion_profile == "mine"
