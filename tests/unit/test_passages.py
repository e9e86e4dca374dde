"""Passages as their authors wrote them: paragraph and heading boundaries kept, titles in meta and on a line of
their own, nothing across documents, JSONL records named by title and line, answers never across a paragraph
break."""

import json

from haystack import Document

from haystack_integrations.components.preprocessors.spanbert import PassageSplitter
from spanbert_reader.data.passages import split_passages

ARTICLE = """Valentina Tereshkova

Valentina Vladimirovna Tereshkova was the first woman to fly in space. She flew Vostok 6 in June 1963.

Early life

She was born in 1937 in Maslennikovo. She worked in a textile factory.
"""


def test_headings_go_on_their_own_line_and_into_meta():
    passages = split_passages(ARTICLE, max_words=150, overlap=20)
    assert [p.section for p in passages] == ["Valentina Tereshkova", "Early life"]
    assert all(p.title == "Valentina Tereshkova" for p in passages)
    assert passages[0].text.startswith("Valentina Tereshkova\n\nValentina Vladimirovna")
    assert "Tereshkova Valentina" not in " ".join(p.text for p in passages).replace("\n\n", " | ")
    assert passages[1].text == "Early life\n\nShe was born in 1937 in Maslennikovo. She worked in a textile factory."


def test_paragraphs_are_packed_whole_and_long_ones_windowed_with_overlap():
    text = "\n\n".join(f"Paragraph {i} has exactly six words." for i in range(10))
    packed = split_passages(text, max_words=20, overlap=5)
    assert all(len(p.text.split()) <= 20 for p in packed)
    assert [p.text.count("Paragraph") for p in packed] == [3, 3, 3, 1]  # whole paragraphs, never cut
    long = " ".join(f"w{i}." for i in range(50))
    windows = split_passages(long, max_words=20, overlap=5)
    words = [p.text.split() for p in windows]
    assert all(len(w) <= 20 for w in words) and words[0][-5:] == words[1][:5]  # 5 words of overlap
    assert {w for ws in words for w in ws} == set(long.split())  # nothing lost


def test_a_passage_never_spans_two_documents_and_keeps_their_meta():
    docs = [Document(content="First record about rivers.", meta={"file_path": "a.jsonl", "line": 1}),
            Document(content="Second record about mountains.", meta={"file_path": "a.jsonl", "line": 2})]
    out = PassageSplitter(split_length=150).run(documents=docs)["documents"]
    assert [d.content for d in out] == ["First record about rivers.", "Second record about mountains."]
    assert [d.meta["line"] for d in out] == [1, 2] and out[0].meta["source_id"] == docs[0].id


def test_form_feeds_give_the_page_a_passage_starts_on():
    pages = "Page one words here.\f\n\nPage two words here.\f\n\nPage three words here."
    out = PassageSplitter(split_length=4, split_overlap=0).run(documents=[Document(content=pages)])["documents"]
    assert [d.meta["page_number"] for d in out] == [1, 2, 3]


def test_a_jsonl_record_is_named_by_its_file_line_and_title_and_answers_never_cross_a_paragraph_break(
        tmp_path, capsys, monkeypatch, demo_model):
    from spanbert_reader.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "people.jsonl").write_text(
        json.dumps({"title": "Guido van Rossum", "text": "Guido van Rossum created the Python language."}) + "\n\n"
        + json.dumps({"title": "Valentina Tereshkova", "text": ARTICLE}) + "\n")
    monkeypatch.setenv("SPANBERT_DATA_DIR", str(tmp_path / "data"))
    assert main(["index", str(folder), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["ask", "Who was the first woman to fly in space?", "--json", "--model", str(demo_model),
                 "--top-k", "5"]) == 0
    answers = [a for a in json.loads(capsys.readouterr().out)["answers"] if not a.get("no_answer")]
    assert answers and all("\n\n" not in a["answer"] for a in answers)
    best = answers[0]
    assert "Tereshkova" in best["answer"] and "Tereshkova Valentina" not in best["answer"]
    assert best["source"].endswith("people.jsonl:3 (Valentina Tereshkova)")


def test_a_large_jsonl_is_indexed_in_chunks_with_a_bar_that_counts_records(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "big"
    folder.mkdir()
    filler = " ".join(["word"] * 90)
    lines = [json.dumps({"title": f"Record {i}", "text": f"Record {i} says {filler}."}) for i in range(2500)]
    lines.insert(700, "")  # a blank line: line numbers still count it
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    assert (folder / "big.jsonl").stat().st_size > 1 << 20
    (folder / "small.txt").write_text("A small file beside it.")
    exe = Path(sys.executable).with_name("spanbert-qa")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "spanbert_reader.cli"]
    env = {**os.environ, "SPANBERT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([*command, "index", str(folder)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Indexed 2 file(s) into 2501 passage(s)" in result.stdout
    assert "record" in result.stderr and "2501/2501" in result.stderr  # its own bar, counting records (lines)
    saved = json.loads((tmp_path / "data" / "default.json").read_text())["documents"]
    by_title = {d["meta"].get("title"): d["meta"] for d in saved}
    assert by_title["Record 0"]["line"] == 1 and by_title["Record 699"]["line"] == 700
    assert by_title["Record 700"]["line"] == 702 and by_title["Record 2499"]["line"] == 2501
