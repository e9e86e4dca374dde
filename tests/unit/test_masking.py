"""SpanBERT span masking statistics and the SBO head."""

import numpy as np
import pytest
import torch

from spanbert_reader.training.masking import SpanMasker, contiguous_spans, sbo_targets, span_length_distribution


def _blocks(n_blocks=400, seed=0):
    """Blocks of 510 tokens with words of 1-3 word pieces, [CLS]/[SEP] marked -1."""
    rng = np.random.default_rng(seed)
    for _ in range(n_blocks):
        word_ids = []
        word = 0
        while len(word_ids) < 510:
            word_ids.extend([word] * int(rng.choice([1, 1, 1, 2, 3])))
            word += 1
        word_ids = np.array([-1] + word_ids[:510] + [-1])
        ids = rng.integers(10, 1000, size=word_ids.shape[0])
        yield ids, word_ids


def test_truncated_geometric_distribution():
    probabilities = span_length_distribution(0.2, 10)
    assert probabilities.sum() == pytest.approx(1.0)
    mean = (np.arange(1, 11) * probabilities).sum()
    assert mean == pytest.approx(3.80, abs=0.01)


def test_masking_statistics():
    masker = SpanMasker(mask_id=4, vocab_size=1000, special_ids={0, 1, 2, 3}, seed=0)
    fractions, sampled, replacements, lengths = [], [], [], []
    for ids, words in _blocks():
        block = masker(ids, words)
        masked = block.labels != -100
        fractions.append(masked.sum() / (words >= 0).sum())
        sampled.extend(block.sampled_lengths)
        replacements.extend(block.replacements)
        # spans never split a word: every masked word is masked entirely; specials never masked
        for w in np.unique(words[masked]):
            assert masked[words == w].all()
        assert not masked[words < 0].any()
        for (start, end), kind in zip(block.spans, block.replacements, strict=True):
            lengths.append(end - start + 1)
            segment = block.input_ids[start: end + 1]
            if kind == "mask":
                assert (segment == 4).all()
            elif kind == "keep":
                assert (segment == ids[start: end + 1]).all()
        assert (block.input_ids[~masked] == ids[~masked]).all()
    assert np.mean(fractions) == pytest.approx(0.15, abs=0.01)
    assert np.mean(sampled) == pytest.approx(3.8, abs=0.2)
    histogram = np.bincount(sampled, minlength=11)[1:] / len(sampled)
    assert np.abs(histogram - span_length_distribution()).max() < 0.02
    counts = {k: replacements.count(k) / len(replacements) for k in ("mask", "random", "keep")}
    assert counts["mask"] == pytest.approx(0.8, abs=0.02)
    assert counts["random"] == pytest.approx(0.1, abs=0.02)
    assert counts["keep"] == pytest.approx(0.1, abs=0.02)


def test_contiguous_spans_merge_adjacent_masks_and_sbo_targets():
    mask = np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    assert contiguous_spans(mask) == [(1, 2), (4, 6)]
    labels = np.array([-100, 11, 12, -100, 14, 15, 16, -100])
    left, right, offsets, targets = sbo_targets([(1, 2), (4, 6)], labels)
    assert left == [0, 0, 3, 3, 3] and right == [3, 3, 7, 7, 7]
    assert offsets == [0, 1, 0, 1, 2] and targets == [11, 12, 14, 15, 16]
    left, _, offsets, _ = sbo_targets([(1, 30)], np.arange(40), max_targets=15)
    assert len(left) == 15 and max(offsets) == 14


def test_sbo_head_shapes_and_tying():
    from spanbert_reader.modeling import SpanBertConfig
    from spanbert_reader.modeling.pretraining import SpanBertForPreTraining

    config = SpanBertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                            intermediate_size=64)
    model = SpanBertForPreTraining(config)
    embedding = model.bert.embeddings.word_embeddings.weight
    assert model.sbo.word_embeddings.weight is embedding and model.mlm.word_embeddings.weight is embedding
    assert model.sbo.mlp[0].in_features == 2 * 32 + 200 and model.sbo.position_embeddings.num_embeddings == 15
    hidden = torch.randn(2, 10, 32)
    logits = model.sbo(hidden, torch.tensor([0, 3]), torch.tensor([4, 8]), torch.tensor([0, 2]),
                       torch.tensor([0, 1]))
    assert logits.shape == (2, 120)
    with pytest.raises(ValueError, match="max_targets"):
        model.sbo(hidden, torch.tensor([0]), torch.tensor([4]), torch.tensor([15]), torch.tensor([0]))
