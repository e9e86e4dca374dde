"""Checkpoint loading: accepted layouts and the errors for the ones we cannot use."""

import logging
import pickle

import pytest
import torch
from helpers import make_qa_checkpoint, tiny_hf_config
from safetensors.torch import load_file, save_file

from spanbert_reader.modeling import CheckpointError, SpanBertForQuestionAnswering, SpanBertModel


def _logits(model, n=12):
    ids = torch.arange(5, 5 + n).unsqueeze(0)
    with torch.no_grad():
        return model(ids).start_logits


def test_missing_path_says_it_does_not_exist(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        SpanBertForQuestionAnswering.from_pretrained(str(tmp_path / "nope"))


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text('{"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2}')
    with pytest.raises(CheckpointError, match="No weights in .*model.safetensors"):
        SpanBertForQuestionAnswering.from_pretrained(str(tmp_path))


def test_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="No config.json"):
        SpanBertModel.from_pretrained(str(tmp_path))


def test_unreachable_hub_id_explains_local_folders(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="pass a local folder that holds config.json"):
        SpanBertForQuestionAnswering.from_pretrained("no-such-org/no-such-model")


def test_missing_encoder_weights_are_listed(tmp_path):
    folder = make_qa_checkpoint(tmp_path / "ckpt")
    state = load_file(folder / "model.safetensors")
    del state["bert.encoder.layer.1.output.dense.weight"]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing 1 weight\(s\): encoder.layer.1.output.dense.weight"):
        SpanBertForQuestionAnswering.from_pretrained(str(folder))


def test_shape_mismatch_is_listed(tmp_path):
    folder = make_qa_checkpoint(tmp_path / "ckpt")
    state = load_file(folder / "model.safetensors")
    state["bert.embeddings.word_embeddings.weight"] = state["bert.embeddings.word_embeddings.weight"][:-3]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="says vocab_size is .* but the weights hold"):
        SpanBertForQuestionAnswering.from_pretrained(str(folder))
    other = make_qa_checkpoint(tmp_path / "other")
    state = load_file(other / "model.safetensors")
    key = "bert.encoder.layer.0.attention.self.query.weight"
    state[key] = state[key][:, :-2].contiguous()
    save_file(state, other / "model.safetensors")
    folder = other
    with pytest.raises(CheckpointError, match="shape mismatch .*encoder.layer.0.attention.self.query.weight"):
        SpanBertForQuestionAnswering.from_pretrained(str(folder))


def test_base_checkpoint_gets_fresh_head_with_warning(tmp_path, caplog):
    from transformers import BertModel

    torch.manual_seed(0)
    BertModel(tiny_hf_config(120)).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = SpanBertForQuestionAnswering.from_pretrained(str(tmp_path))
    assert "no span (QA) head" in caplog.text and "fine-tuned" in caplog.text
    assert model.qa_outputs.weight.abs().sum() > 0
    with pytest.raises(CheckpointError, match="has no weight 'qa_outputs.weight'; it is a base model"):
        SpanBertForQuestionAnswering.from_pretrained(str(tmp_path), require_qa_head=True)


def test_old_names_bin_and_no_prefix_load_identically(tmp_path):
    folder = make_qa_checkpoint(tmp_path / "ckpt")
    reference = SpanBertForQuestionAnswering.from_pretrained(str(folder))
    state = load_file(folder / "model.safetensors")
    renamed = {}
    for key, value in state.items():
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        renamed[key] = value
    renamed["bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    renamed["cls.predictions.bias"] = torch.zeros(3)  # pre-training heads are ignored
    (folder / "model.safetensors").unlink()
    torch.save(renamed, folder / "pytorch_model.bin")
    old = SpanBertForQuestionAnswering.from_pretrained(str(folder))
    assert torch.equal(_logits(reference), _logits(old))
    # BertModel layout: no "bert." prefix, encoder only
    plain = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
    (folder / "pytorch_model.bin").unlink()
    save_file(plain, folder / "model.safetensors")
    encoder = SpanBertModel.from_pretrained(str(folder))
    ids = torch.arange(5, 17).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(encoder(ids), reference.bert(ids))


def test_pickle_needing_code_is_refused(tmp_path):
    folder = make_qa_checkpoint(tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"x": Exploit()}, handle)
    with pytest.raises(CheckpointError, match="Refused to load .*pytorch_model.bin.*weights_only"):
        SpanBertForQuestionAnswering.from_pretrained(str(folder))


def test_sharded_safetensors(tmp_path):
    folder = make_qa_checkpoint(tmp_path / "ckpt")
    reference = SpanBertForQuestionAnswering.from_pretrained(str(folder))
    state = load_file(folder / "model.safetensors")
    keys = sorted(state)
    half = len(keys) // 2
    save_file({k: state[k] for k in keys[:half]}, folder / "model-00001-of-00002.safetensors")
    save_file({k: state[k] for k in keys[half:]}, folder / "model-00002-of-00002.safetensors")
    import json

    weight_map = {k: ("model-00001-of-00002.safetensors" if i < half else "model-00002-of-00002.safetensors")
                  for i, k in enumerate(keys)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "model.safetensors").unlink()
    assert torch.equal(_logits(reference), _logits(SpanBertForQuestionAnswering.from_pretrained(str(folder))))
