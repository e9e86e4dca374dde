import json

from helpers import minilm_path, tiny_vocab

from spanbert_reader.modeling import load_tokenizer, vocab_is_cased


def _vocab_only_folder(folder, cased: bool, config: dict | None = None):
    folder.mkdir()
    vocab = tiny_vocab(cased)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_cased_vocab_without_config_is_not_lowercased(tmp_path):
    tok = load_tokenizer(str(_vocab_only_folder(tmp_path / "c", cased=True)))
    tokens = tok.tokenize("Paris France")
    assert tokens == ["Paris", "France"]


def test_uncased_vocab_without_config_is_lowercased(tmp_path):
    tok = load_tokenizer(str(_vocab_only_folder(tmp_path / "u", cased=False)))
    assert tok.tokenize("Paris France") == ["paris", "france"]


def test_tokenizer_config_wins_when_it_says(tmp_path):
    tok = load_tokenizer(str(_vocab_only_folder(tmp_path / "c", cased=True, config={"do_lower_case": True})))
    assert tok.tokenize("Paris") == ["paris"]


def test_vocab_casing_detection_on_real_vocab():
    from spanbert_reader.modeling.tokenizer import read_vocab

    assert not vocab_is_cased(read_vocab(minilm_path() / "vocab.txt"))
    assert vocab_is_cased(tiny_vocab(cased=True))


def test_real_tokenizer_tokenises_real_words():
    tok = load_tokenizer(str(minilm_path()))
    tokens = tok.tokenize("The Seine flows through Paris.")
    assert "[UNK]" not in tokens and tokens[:2] == ["the", "seine"]
