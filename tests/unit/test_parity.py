"""Logit/hidden-state parity with transformers (fp32, max abs difference <= 1e-4)."""

import pytest
import torch
from helpers import minilm_path, tiny_hf_config

from spanbert_reader.modeling import SpanBertForQuestionAnswering, SpanBertModel

TOL = 1e-4


def _batch(vocab_size: int, batch: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    for row in range(batch):
        real = length - (row * 3) % max(1, length // 2)  # different amounts of padding per row
        mask[row, real:] = 0
        types[row, real // 3: real] = 1
    ids[mask == 0] = 0
    return ids, mask, types


SHAPES = [
    dict(hidden=32, layers=1, heads=2, intermediate=37, hidden_act="gelu"),
    dict(hidden=48, layers=3, heads=4, intermediate=96, hidden_act="gelu_new"),
    dict(hidden=64, layers=2, heads=8, intermediate=128, hidden_act="relu", layer_norm_eps=1e-6),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_tiny_random_qa_checkpoint_parity(tmp_path, shape):
    from transformers import BertForQuestionAnswering

    torch.manual_seed(1)
    hf = BertForQuestionAnswering(tiny_hf_config(211, **shape)).eval()
    hf.save_pretrained(tmp_path)
    ours = SpanBertForQuestionAnswering.from_pretrained(str(tmp_path))
    ids, mask, types = _batch(211, 4, 29)
    assert (mask == 0).any() and (types == 1).any()
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        hidden = ours.bert(ids, mask, types)
        got = ours(ids, mask, types)
    real = mask.bool()
    assert (expected.hidden_states[-1] - hidden)[real].abs().max() <= TOL
    assert (expected.start_logits - got.start_logits)[real].abs().max() <= TOL
    assert (expected.end_logits - got.end_logits)[real].abs().max() <= TOL


def test_minilm_real_weights_hidden_state_parity():
    from transformers import AutoModel

    path = minilm_path()
    hf = AutoModel.from_pretrained(path).eval()
    ours = SpanBertModel.from_pretrained(str(path))
    ids, mask, types = _batch(hf.config.vocab_size, 3, 64, seed=3)
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
        pooled = ours.pool(got)
    real = mask.bool()
    assert (expected.last_hidden_state - got)[real].abs().max() <= TOL
    assert (expected.pooler_output - pooled).abs().max() <= TOL


def test_minilm_real_weights_qa_logit_parity(tmp_path):
    from transformers import BertForQuestionAnswering

    torch.manual_seed(7)  # seeds the freshly initialised span head
    hf = BertForQuestionAnswering.from_pretrained(minilm_path()).eval()
    torch.nn.init.normal_(hf.qa_outputs.weight, std=0.5)
    hf.save_pretrained(tmp_path)
    ours = SpanBertForQuestionAnswering.from_pretrained(str(tmp_path), require_qa_head=True)
    ids, mask, types = _batch(hf.config.vocab_size, 3, 50, seed=4)
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    real = mask.bool()
    assert expected.start_logits[real].abs().max() > 0.1  # the head is not degenerate
    assert (expected.start_logits - got.start_logits)[real].abs().max() <= TOL
    assert (expected.end_logits - got.end_logits)[real].abs().max() <= TOL


def test_round_trip_ours_to_transformers_and_back(tmp_path):
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(2)
    from spanbert_reader.modeling import SpanBertConfig

    config = SpanBertConfig(vocab_size=150, hidden_size=40, num_hidden_layers=2, num_attention_heads=5,
                            intermediate_size=80)
    ours = SpanBertForQuestionAnswering(config).eval()
    torch.nn.init.normal_(ours.qa_outputs.weight, std=0.5)
    ours.save_pretrained(tmp_path / "ours")
    hf, info = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    hf.eval()
    ids, mask, types = _batch(150, 2, 21, seed=5)
    with torch.no_grad():
        a, b = ours(ids, mask, types), hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
    real = mask.bool()
    assert (a.start_logits - b.start_logits)[real].abs().max() <= TOL
    assert (a.end_logits - b.end_logits)[real].abs().max() <= TOL
    # transformers saves -> ours loads -> same logits
    hf.save_pretrained(tmp_path / "hf")
    again = SpanBertForQuestionAnswering.from_pretrained(str(tmp_path / "hf"), require_qa_head=True)
    with torch.no_grad():
        c = again(ids, mask, types)
    assert (a.start_logits - c.start_logits)[real].abs().max() <= TOL


def test_encoder_round_trip_loads_in_automodel_without_warnings(tmp_path):
    from transformers import AutoModel

    ours = SpanBertModel.from_pretrained(str(minilm_path()))
    ours.save_pretrained(tmp_path)
    hf, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, mask, types = _batch(hf.config.vocab_size, 2, 16, seed=6)
    with torch.no_grad():
        diff = (hf.eval()(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
                - ours(ids, mask, types))
    assert diff[mask.bool()].abs().max() <= TOL


def test_a_checkpoint_with_one_segment_type_reads_every_segment_id_as_zero(tmp_path):
    """BERT-architecture encoders with an XLM-R vocabulary may have ``type_vocab_size`` 1: the reader's passage
    segment id 1 must not index past the table (transformers would raise), and must mean segment 0."""
    from helpers import make_qa_checkpoint

    from spanbert_reader.inference.reader import SpanReader

    folder = make_qa_checkpoint(tmp_path / "one-type", type_vocab_size=1)
    ours = SpanBertForQuestionAnswering.from_pretrained(str(folder)).eval()
    ids = torch.randint(5, 40, (2, 12))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        zeros = ours(ids, mask, torch.zeros_like(ids))
        ones = ours(ids, mask, torch.ones_like(ids))
    assert torch.equal(zeros.start_logits, ones.start_logits) and torch.equal(zeros.end_logits, ones.end_logits)
    reader = SpanReader(str(folder), device="cpu")
    answers = reader.answer(["who built the tower?"], [["the tower was built by the king in the north"]])[0]
    assert any(not a.is_no_answer for a in answers)
