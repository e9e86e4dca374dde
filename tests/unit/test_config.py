import json

import pytest

from spanbert_reader.modeling import SpanBertConfig


def test_round_trip_keeps_unknown_fields(tmp_path):
    data = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "architectures": ["BertModel"], "pooler_type": "first_token_transform",
            "torch_dtype": "float32"}
    (tmp_path / "config.json").write_text(json.dumps(data))
    config = SpanBertConfig.from_json_file(tmp_path / "config.json")
    assert config.hidden_size == 16 and config.head_dim == 8
    assert config.extra["pooler_type"] == "first_token_transform"
    out = tmp_path / "out"
    config.save(out)
    written = json.loads((out / "config.json").read_text())
    for key, value in data.items():
        assert written[key] == value


def test_transformers_reads_our_config(tmp_path):
    from transformers import BertConfig

    SpanBertConfig(vocab_size=77, hidden_size=24, num_hidden_layers=3, num_attention_heads=3,
                   intermediate_size=40, layer_norm_eps=1e-7).save(tmp_path)
    hf = BertConfig.from_pretrained(tmp_path)
    assert (hf.vocab_size, hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads, hf.intermediate_size,
            hf.layer_norm_eps) == (77, 24, 3, 3, 40, 1e-7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"hidden_size": 30, "num_attention_heads": 4}, "multiple of num_attention_heads"),
     ({"hidden_act": "tanhh"}, "hidden_act 'tanhh' is not supported"),
     ({"num_hidden_layers": 0}, "num_hidden_layers")],
)
def test_invalid_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpanBertConfig(**kwargs)


def test_malformed_json_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        SpanBertConfig.from_json_file(tmp_path / "config.json")
