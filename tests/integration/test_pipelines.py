"""Bundled pipeline YAMLs: they load, round-trip, and refuse what they must refuse."""

import pytest
from haystack import Pipeline

from spanbert_reader.app.pipelines import PipelineError, list_pipelines, load_pipeline, substitute

EXPECTED = {"inmemory_qa", "elasticsearch_qa", "elasticsearch_hybrid_qa", "inmemory_indexing",
            "inmemory_embedding_indexing", "elasticsearch_indexing", "elasticsearch_hybrid_indexing"}


def test_all_expected_pipelines_are_bundled_with_descriptions():
    bundled = list_pipelines()
    assert EXPECTED <= set(bundled)
    assert all(p.description for p in bundled.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_bundled_yaml_loads_and_round_trips(name, tiny_qa):
    from helpers import minilm_path

    pipeline = load_pipeline(name, {"SPANBERT_MODEL": str(tiny_qa), "EMBEDDING_MODEL": str(minilm_path())})
    assert len(pipeline.graph.nodes) >= 2
    again = Pipeline.loads(pipeline.dumps())  # plain Haystack loader, no allowlisting
    a, b = again.to_dict(), pipeline.to_dict()
    key = lambda c: (c["sender"], c["receiver"])  # noqa: E731
    assert sorted(a.pop("connections"), key=key) == sorted(b.pop("connections"), key=key)
    assert a == b


def test_substitution_overrides_env_and_defaults():
    env = {"A": "from-env"}
    text = "a: ${A}\nb: ${B:-7}\nc: ${C:-x}"
    assert substitute(text, {"C": 3}, environ=env) == "a: from-env\nb: 7\nc: 3"
    with pytest.raises(PipelineError, match=r"f.yml, line 2: variable \$\{MISSING\} is not set"):
        substitute("a: 1\nb: ${MISSING}", source="f.yml", environ={})


def test_overrides_reach_components(tiny_qa):
    pipeline = load_pipeline("inmemory_qa", {"SPANBERT_MODEL": str(tiny_qa), "RETRIEVER_TOP_K": 3,
                                             "READER_TOP_K": 2})
    assert pipeline.get_component("retriever").top_k == 3
    reader = pipeline.get_component("reader")
    assert reader.top_k == 2 and reader.model == str(tiny_qa)


@pytest.mark.parametrize("name", ["inmemory_qa", "inmemory_hybrid_qa", "elasticsearch_qa", "elasticsearch_hybrid_qa"])
def test_the_precision_setting_reaches_the_reader_of_every_qa_pipeline(name, tiny_qa):
    from helpers import minilm_path

    from spanbert_reader.app.settings import AppSettings

    values = AppSettings(model=str(tiny_qa), embedding_model=str(minilm_path()), precision="int8").overrides()
    reader = load_pipeline(name, values).get_component("reader")
    assert reader.span_reader.runtime.precision == "int8"
    default = load_pipeline(name, AppSettings(model=str(tiny_qa), embedding_model=str(minilm_path())).overrides())
    assert default.get_component("reader").span_reader.runtime.precision == "auto"


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("components:\n  reader:\n    type: [unclosed\n")
    with pytest.raises(PipelineError, match=r"bad.yml, line \d+: malformed YAML"):
        load_pipeline(path)


@pytest.mark.parametrize("kind", ["os.system", "subprocess.Popen", "builtins.eval"])
def test_types_outside_the_allowlist_are_refused_before_import(tmp_path, kind):
    path = tmp_path / "evil.yml"
    path.write_text(f"components:\n  x:\n    type: {kind}\n    init_parameters: {{}}\nconnections: []\n")
    with pytest.raises(PipelineError, match=rf"evil.yml, line 3: type '{kind}' is not allowed"):
        load_pipeline(path)


def test_unknown_component_type_names_file_and_line(tmp_path):
    path = tmp_path / "typo.yml"
    path.write_text("components:\n  r:\n    type: haystack.components.readers.NoSuchReader\n"
                    "    init_parameters: {}\nconnections: []\n")
    with pytest.raises(PipelineError, match=r"typo.yml, line 3: .*NoSuchReader"):
        load_pipeline(path)


def test_unknown_pipeline_name():
    with pytest.raises(PipelineError, match="Unknown pipeline 'nope'"):
        load_pipeline("nope")


def test_a_dumped_transformers_reader_pipeline_loads_with_the_type_swapped(minilm_qa, caplog):
    import torch
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    store = InMemoryDocumentStore()
    store.write_documents([Document(content="Paris is the capital of France."),
                           Document(content="Berlin is the capital of Germany.")])
    original = Pipeline()
    original.add_component("retriever", InMemoryBM25Retriever(document_store=store))
    original.add_component("reader", TransformersExtractiveReader(
        model=str(minilm_qa), top_k=2, max_batch_size=4, answers_per_seq=7,
        model_kwargs={"dtype": torch.float32, "device_map": "cpu", "attn_implementation": "eager"}))
    original.connect("retriever.documents", "reader.documents")
    dumped = original.dumps()
    assert "max_batch_size" in dumped and "answers_per_seq" in dumped and "model_kwargs" in dumped
    ter_type = original.get_component("reader").to_dict()["type"]
    swapped = dumped.replace(ter_type, "haystack_integrations.components.readers.spanbert.reader.SpanBERTReader")
    assert swapped != dumped
    pipeline = Pipeline.loads(swapped)
    reader = pipeline.get_component("reader")
    assert type(reader).__name__ == "SpanBERTReader"
    assert reader.batch_size == 4 and reader.n_best_per_window == 7 and reader.precision == "fp32"
    assert str(reader.device.to_torch()) == "cpu"
    assert "ignores model_kwargs ['attn_implementation']" in caplog.text
    pipeline.get_component("retriever").document_store = store
    result = pipeline.run({"retriever": {"query": "capital of France"}, "reader": {"query": "capital of France"}})
    answers = result["reader"]["answers"]
    assert answers and any(a.data for a in answers)
    again = Pipeline.loads(pipeline.dumps())  # our own dump keeps the TER-named parameters loadable
    assert again.get_component("reader").batch_size == 4


def test_embedding_prefixes_reach_the_embedders(tiny_qa):
    """e5-style models embed "query: ..." and "passage: ..."; the hybrid and embedding YAMLs take both prefixes."""
    from helpers import minilm_path

    values = {"SPANBERT_MODEL": str(tiny_qa), "EMBEDDING_MODEL": str(minilm_path())}
    for name in ("inmemory_hybrid_qa", "elasticsearch_hybrid_qa"):
        assert load_pipeline(name, values).get_component("text_embedder").prefix == ""  # default: none
        prefixed = load_pipeline(name, {**values, "EMBEDDING_QUERY_PREFIX": "query: "})
        assert prefixed.get_component("text_embedder").prefix == "query: "
    for name in ("inmemory_embedding_indexing", "elasticsearch_hybrid_indexing"):
        assert load_pipeline(name, values).get_component("embedder").prefix == ""
        prefixed = load_pipeline(name, {**values, "EMBEDDING_DOCUMENT_PREFIX": "passage: "})
        assert prefixed.get_component("embedder").prefix == "passage: "
