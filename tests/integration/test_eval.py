"""`spanbert-qa eval` end to end on a small SQuAD 2.0 fixture; every number checked by hand or recomputed
independently from the per-question details."""

import collections
import json
import re
import string
from pathlib import Path

import pytest

from spanbert_reader.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_squad2.json"
GOLD = {"q1": ["east coast of Sicily", "Sicily"], "q2": ["an active stratovolcano"], "q3": [],
        "q4": ["The Aletsch Glacier"], "q5": [], "q6": ["the Valais canton"]}


def _norm(text):  # an independent re-statement of the SQuAD normalisation
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _f1(gold, pred):
    g, p = _norm(gold).split(), _norm(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    return 0.0 if same == 0 else 2 * (same / len(p)) * (same / len(g)) / (same / len(p) + same / len(g))


def _score(predictions):
    em = [max(float(_norm(g) == _norm(predictions[q])) for g in (golds or [""])) for q, golds in GOLD.items()]
    f1 = [max(_f1(g, predictions[q]) for g in (golds or [""])) for q, golds in GOLD.items()]
    return 100 * sum(em) / len(em), 100 * sum(f1) / len(f1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from helpers import make_qa_checkpoint

    root = tmp_path_factory.mktemp("eval")
    model = make_qa_checkpoint(root / "model")
    out = root / "out"
    code = main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "2,1",
                 "--output", str(out), "--no-progress", "--tune-null-threshold", "--top-n", "3"])
    assert code == 0
    details = {d["id"]: d for d in map(json.loads, (out / "details.jsonl").read_text().splitlines())}
    return model, out, json.loads((out / "metrics.json").read_text()), details


def test_outputs_exist(run):
    _, out, _, details = run
    for name in ("metrics.json", "predictions.json", "oracle_predictions.json", "null_odds.json", "details.jsonl",
                 "report.md", "plot.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(details) == set(GOLD)
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions == {q: d["predictions"]["2"] for q, d in details.items()}


def test_data_problems_are_counted_not_fatal(run):
    _, _, metrics, _ = run
    assert metrics["dataset"] == {"questions": 6, "has_answer": 4, "no_answer": 2, "data_report": {
        "missing_answers_key": 1, "reanchored_answers": 2, "unanchorable_answers": 1, "duplicate_ids": 1,
        "empty_contexts": 1, "empty_questions": 0}}


def test_retrieval_numbers_by_hand(run):
    _, _, metrics, details = run
    # BM25 over the two paragraphs: q5 ("... Mount Etna erupt ...") belongs to the glacier paragraph but ranks it
    # second; every other question ranks its own paragraph first.
    assert {q: d["gold_rank"] for q, d in details.items()} == {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 2, "q6": 1}
    k1, k2 = metrics["ks"]["1"], metrics["ks"]["2"]
    assert k1["retriever_recall"] == pytest.approx(100 * 5 / 6) and k2["retriever_recall"] == 100.0
    assert k1["mrr"] == pytest.approx(5 / 6) and k2["mrr"] == pytest.approx((5 + 0.5) / 6)
    # q6's gold text is not in its paragraph (unanchorable): answer recall is 3 of 4 answerable questions
    assert k1["answer_recall"] == 75.0 and k2["answer_recall"] == 75.0


def test_reader_numbers_recomputed_from_details(run):
    _, _, metrics, details = run
    for k in ("1", "2"):
        em, f1 = _score({q: d["predictions"][k] for q, d in details.items()})
        assert metrics["ks"][k]["reader"]["exact"] == pytest.approx(em, abs=1e-9)
        assert metrics["ks"][k]["reader"]["f1"] == pytest.approx(f1, abs=1e-9)
        hits = [any(_norm(g) == _norm(p) for g in GOLD[q] for p in d["top_n"][k]) for q, d in details.items()
                if GOLD[q]]
        assert metrics["ks"][k]["top_n_accuracy"] == pytest.approx(100 * sum(hits) / 4)
        assert all(len(d["top_n"][k]) <= 3 for d in details.values())
    em, f1 = _score({q: d["oracle_prediction"] for q, d in details.items()})
    assert metrics["oracle"]["exact"] == pytest.approx(em, abs=1e-9)
    assert metrics["oracle"]["f1"] == pytest.approx(f1, abs=1e-9)
    assert metrics["oracle"]["HasAns_total"] == 4 and metrics["oracle"]["NoAns_total"] == 2


def test_k1_equals_a_reader_run_on_the_top_passage(run):
    """Deriving smaller k from one run is exact: compare with the reader given only the top passage."""
    from haystack import Document

    from spanbert_reader import SpanBERTReader

    model, _, _, details = run
    dataset = json.loads(FIXTURE.read_text())
    contexts = {p["context"]: p for a in dataset["data"] for p in a["paragraphs"] if p["context"].strip()}
    ids = {Document(content=c, meta={"title": t, "squad_article": ai, "squad_paragraph": pi}).id: c
           for ai, a in enumerate(dataset["data"]) for pi, p in enumerate(a["paragraphs"])
           for c, t in [(p["context"], a["title"])] if c.strip()}
    assert len(ids) == len(contexts) == 2
    # the eval run used the estimate no-answer (its threshold file is written after the run)
    reader = SpanBERTReader(model=str(model), top_k=3, no_answer_method="estimate")
    questions = {}
    for p in contexts.values():
        for qa in p["qas"]:
            questions.setdefault(qa["id"], qa["question"])  # the loader keeps the first of duplicate ids
    for q, d in details.items():
        top = ids[d["retrieved_ids"][0]]
        answers = reader.run(query=questions[q], documents=[Document(content=top)])["answers"]
        expected = "" if answers[0].data is None else answers[0].data
        assert d["predictions"]["1"] == expected


def test_tuned_threshold_is_stored_and_picked_up(run):
    from spanbert_reader import SpanBERTReader

    model, _, metrics, _ = run
    stored = json.loads((model / "null_threshold.json").read_text())
    assert stored["null_threshold"] == metrics["oracle_null_threshold"]["best_f1_thresh"]
    reader = SpanBERTReader(model=str(model))
    reader.warm_up()
    assert reader.span_reader.settings.no_answer_method == "null_logit"
    assert reader.span_reader.settings.null_threshold == stored["null_threshold"]


def test_haystack_evaluation_run_result(run, tmp_path):
    from spanbert_reader.evaluation.reading import EvalResult, QuestionRecord
    from spanbert_reader.evaluation.reporting import to_evaluation_run_result

    _, _, metrics, details = run
    fields = QuestionRecord.__dataclass_fields__
    records = []
    for d in details.values():
        d = {k: v for k, v in d.items() if k in fields}
        d["predictions"] = {int(k): v for k, v in d["predictions"].items()}
        records.append(QuestionRecord(**d))
    result = to_evaluation_run_result(EvalResult(metrics, records), k=1)
    assert result.results["document_recall"]["score"] == pytest.approx(metrics["ks"]["1"]["retriever_recall"] / 100)
    assert result.results["document_mrr"]["score"] == pytest.approx(metrics["ks"]["1"]["mrr"])
    assert len(result.inputs["question"]) == 6


def test_eval_in_int8_names_its_precision(run, tmp_path):
    model, _, baseline, _ = run
    out = tmp_path / "int8"
    assert main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "1",
                 "--output", str(out), "--no-progress", "--precision", "int8"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["setup"]["precision"] == "int8" and baseline["setup"]["precision"] == "auto: float32"
    assert "(int8), pipeline `inmemory_qa`" in (out / "report.md").read_text()
    assert metrics["dataset"] == baseline["dataset"]


def test_bad_dataset_and_arguments(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"questions": []}))
    assert main(["eval", "--dataset", str(bad), "--model", "x"]) == 2
    assert "not in SQuAD format" in capsys.readouterr().err
    assert main(["eval", "--dataset", str(FIXTURE), "--retriever-top-k", "1,x"]) == 2
    assert "takes integers such as 1,5,10" in capsys.readouterr().err


def test_score_command_matches_library(run, capsys):
    from spanbert_reader.data.squad import load_squad
    from spanbert_reader.evaluation.metrics import score_squad

    _, out, _, _ = run
    assert main(["score", "--dataset", str(FIXTURE), "--predictions", str(out / "oracle_predictions.json"),
                 "--null-odds", str(out / "null_odds.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = score_squad(load_squad(FIXTURE).raw, json.loads((out / "oracle_predictions.json").read_text()),
                           json.loads((out / "null_odds.json").read_text()))
    expected.pop("missing", None)
    assert printed == expected


def _bm25_top(question, k):
    """The eval's retrieval, restated: the fixture's paragraphs in a fresh in-memory BM25 index."""
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from spanbert_reader.data.squad import load_squad
    from spanbert_reader.evaluation.reading import context_documents

    store = InMemoryDocumentStore()
    store.write_documents(context_documents(load_squad(FIXTURE).examples)[0])
    return store.bm25_retrieval(question, top_k=k)


@pytest.mark.parametrize("weight", ["0", "6"])
def test_every_k_equals_a_reader_run_on_the_top_k_passages_with_fusion(tmp_path, weight):
    """Fusion normalises retriever scores over the retrieved set, so eval recomputes each k: compare every k
    with the reader run on exactly the top-k retrieved passages (with their BM25 scores)."""
    from helpers import make_qa_checkpoint

    from spanbert_reader import SpanBERTReader
    from spanbert_reader.data.squad import load_squad

    model = make_qa_checkpoint(tmp_path / "model", seed=3)
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "1,2",
                 "--output", str(out), "--no-progress", "--retriever-weight", weight]) == 0
    details = {d["id"]: d for d in map(json.loads, (out / "details.jsonl").read_text().splitlines())}
    reader = SpanBERTReader(model=str(model), top_k=5, retriever_weight=float(weight))
    questions = {e.id: e.question for e in load_squad(FIXTURE).examples}
    for q, d in details.items():
        for k in (1, 2):
            docs = _bm25_top(questions[q], 2)[:k]
            assert [doc.id for doc in docs] == d["retrieved_ids"][:k]
            answers = reader.run(query=questions[q], documents=docs)["answers"]
            assert d["predictions"][str(k)] == ("" if answers[0].data is None else answers[0].data)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fusion"]["retriever_weight"] == float(weight)
    assert ("reader_only" in metrics["ks"]["2"]) == (weight != "0")


def test_tune_fusion_grid_searches_and_stores_the_best(tmp_path):
    from helpers import make_qa_checkpoint

    from spanbert_reader import SpanBERTReader
    from spanbert_reader.evaluation.tuning import FUSION_WEIGHTS
    from spanbert_reader.inference.ranking import FusionSettings
    from spanbert_reader.inference.side_files import stored_fusion

    model = make_qa_checkpoint(tmp_path / "model", seed=5)
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "1,2",
                 "--output", str(out), "--no-progress", "--tune-fusion"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    grid = metrics["fusion_tuning"]["grid"]
    assert len(grid) == 2 * len(FUSION_WEIGHTS) and {r["aggregate_answers"] for r in grid} == {False, True}
    best = max(grid, key=lambda r: r["mean_f1"])
    stored = stored_fusion(model)
    assert (model / "fusion.json").exists() and stored.retriever_weight in {r["retriever_weight"] for r in grid}
    chosen = next(r for r in grid if (r["retriever_weight"], r["aggregate_answers"]) ==
                  (stored.retriever_weight, stored.aggregate))
    assert chosen["mean_f1"] == pytest.approx(best["mean_f1"])
    for k in ("1", "2"):  # the reported answers are those of the chosen setting
        assert metrics["ks"][k]["reader"]["f1"] == pytest.approx(chosen["ks"][k]["f1"])
    assert "Fusion tuning" in (out / "report.md").read_text()
    recorded = json.loads((model / "fusion.json").read_text())["scores"]  # what the stored setting achieved
    for k in ("1", "2"):
        assert recorded[k]["em"] == round(chosen["ks"][k]["exact"], 2)
        zero = next(r for r in grid if r["retriever_weight"] == 0 and not r["aggregate_answers"])
        assert recorded[k]["reader_only_f1"] == round(zero["ks"][k]["f1"], 2)
    reader = SpanBERTReader(model=str(model))
    reader.warm_up()
    assert reader.span_reader.settings.fusion == FusionSettings(stored.retriever_weight, "minmax", stored.aggregate)


def test_tune_fusion_writes_the_entry_of_the_readers_profile(tmp_path, monkeypatch, capsys):
    from helpers import make_qa_checkpoint

    model = make_qa_checkpoint(tmp_path / "model", seed=5)
    monkeypatch.setenv("FUSION_PROFILE", "custom")  # what the hybrid pipelines set to "hybrid"
    assert main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "1,2",
                 "--output", str(tmp_path / "out"), "--no-progress", "--tune-fusion"]) == 0
    assert "profile 'custom'" in capsys.readouterr().err
    record = json.loads((model / "fusion.json").read_text())
    assert "retriever_weight" not in record and "retriever_weight" in record["profiles"]["custom"]
    assert record["profiles"]["custom"]["pipeline"] == "inmemory_qa"


def test_tune_calibration_fits_on_half_reports_on_the_other_and_the_reader_reads_it(tmp_path, capsys):
    import shutil

    from spanbert_reader import SpanBERTReader
    from spanbert_reader.app.settings import demo_model_path

    demo = demo_model_path()
    if demo is None:
        pytest.skip("the bundled demo reader is not in this checkout")
    model = tmp_path / "model"
    shutil.copytree(demo, model)
    (model / "fusion.json").unlink()
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(FIXTURE), "--model", str(model), "--retriever-top-k", "1", "2",
                 "--output", str(out), "--no-progress", "--tune-calibration"]) == 0
    assert "Stored the calibration" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())  # strict JSON: no NaN
    report = metrics["calibration"]
    assert set(report["per_k"]) == {"1", "2", "all"} and set(report["per_k"]["all"]) == {"present", "removed", "both"}
    both = report["per_k"]["all"]["both"]
    assert both["calibrated"]["n"] == both["uncalibrated"]["n"] > 0
    assert "half 0" in report["fitted_on"] and "half 1" in report["measured_on"]
    assert metrics["setup"]["pipeline"] == "inmemory_qa" and metrics["setup"]["calibration"].startswith("built-in")
    assert metrics["setup"]["precision"] == "auto: float32"
    text = (out / "report.md").read_text()
    assert f"Model `{model}` (auto: float32), pipeline `inmemory_qa`" in text
    assert "## Calibration" in text and "Abstention threshold" in text and "reader-only" in text
    stored = json.loads((model / "fusion.json").read_text())["calibration"]
    assert stored == report["stored"]
    reader = SpanBERTReader(model=str(model))
    reader.warm_up()
    assert reader.span_reader.settings.calibration.to_dict()["weights"] == stored["weights"]
    assert reader.span_reader.sources["calibration"].startswith("fusion.json")
