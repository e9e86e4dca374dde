"""Non-BERT QA checkpoints (RoBERTa, XLM-RoBERTa, DeBERTa-v2) run through the same engine with their own input
template: tiny random checkpoints built here, answers and offsets equal to an exhaustive search over the logits of
the transformers model on windows made by the transformers tokenizer, CJK and Arabic text included."""

import numpy as np
import pytest
import torch
from haystack import Document

from spanbert_reader import SpanBERTReader
from spanbert_reader.inference.windows import InputTemplate

CORPUS = [
    "The Seine flows through Paris, the capital of France, and reaches the sea at Le Havre.",
    "Mount Etna is an active stratovolcano on the east coast of Sicily, close to Catania.",
    "東京は日本の首都であり、世界最大の都市圏の一つです。富士山は日本で最も高い山です。",
    "北京是中国的首都，长城是世界上最著名的建筑之一。",
    "القاهرة هي عاصمة مصر وتقع على ضفاف نهر النيل، وهي أكبر مدينة في العالم العربي.",
    "Which river flows through Paris? Where is Etna? 日本の首都はどこですか？ ما هي عاصمة مصر؟",
]
PAIRS = [
    ("Which river flows through Paris?", CORPUS[0] + " " + CORPUS[1] * 3),
    ("Where is Mount Etna?", CORPUS[1] + " " + CORPUS[0]),
    ("日本の首都はどこですか？", CORPUS[2] * 3),
    ("中国的首都是哪里？", CORPUS[3] * 2),
    ("ما هي عاصمة مصر؟", CORPUS[4] * 2),
]
MAX_SEQ, STRIDE, MAX_ANSWER = 48, 12, 12


def _unigram(texts, special_tokens, unk):
    """A SentencePiece-like Unigram tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=300, unk_token=unk,
                                                           special_tokens=special_tokens))
    return tok


def _tokenizer(kind: str, folder):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = CORPUS * 20
    if kind == "roberta":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=[
            "<s>", "<pad>", "</s>", "<unk>", "<mask>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True)
        special = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                       unk_token="<unk>", mask_token="<mask>")
    elif kind == "xlm-roberta":
        tok = _unigram(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
        special = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                       unk_token="<unk>", mask_token="<mask>")
    else:  # deberta-v2: SentencePiece-like pieces, BERT's template
        tok = _unigram(texts, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], "[UNK]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
        special = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                       mask_token="[MASK]")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_SEQ, **special)
    fast.save_pretrained(folder)
    return fast


def _model(kind: str, vocab_size: int, tokenizer, folder):
    import transformers

    common = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, pad_token_id=tokenizer.pad_token_id)
    if kind == "roberta":
        config = transformers.RobertaConfig(max_position_embeddings=MAX_SEQ + 4, type_vocab_size=1, **common)
        cls = transformers.RobertaForQuestionAnswering
    elif kind == "xlm-roberta":
        config = transformers.XLMRobertaConfig(max_position_embeddings=MAX_SEQ + 4, type_vocab_size=1, **common)
        cls = transformers.XLMRobertaForQuestionAnswering
    else:
        config = transformers.DebertaV2Config(max_position_embeddings=MAX_SEQ, type_vocab_size=0,
                                              relative_attention=True, pos_att_type=["p2c", "c2p"],
                                              position_buckets=16, max_relative_positions=-1, **common)
        cls = transformers.DebertaV2ForQuestionAnswering
    torch.manual_seed(0)
    model = cls(config).eval()
    torch.nn.init.normal_(model.qa_outputs.weight, std=0.5)
    model.save_pretrained(folder)
    return model


def _brute_force(model, tokenizer, question: str, passage: str) -> tuple[float, int, int]:
    """Best span over transformers' own windows (its tokenizer's truncation and stride), BERT's max-context rule."""
    enc = tokenizer(question, passage, truncation="only_second", max_length=MAX_SEQ, stride=STRIDE,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest",
                    return_tensors="pt")
    def trim(span):  # the reader reports spans without surrounding whitespace
        start, end = span
        while start < end and passage[start].isspace():
            start += 1
        while end > start and passage[end - 1].isspace():
            end -= 1
        return start, end

    full = [trim(o) for o in tokenizer(passage, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"]]
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    windows = []
    first = 0
    for w in range(enc["input_ids"].shape[0]):
        sequence = enc.sequence_ids(w)
        positions = [p for p, s in enumerate(sequence) if s == 1]
        globals_ = list(range(first, first + len(positions)))  # consecutive passage tokens, `stride` shared
        assert trim(tuple(enc["offset_mapping"][w][positions[0]].tolist())) == full[first]
        windows.append((positions, globals_))
        first += len(positions) - STRIDE
    starts = [g[0] for _, g in windows]
    owner = {}
    for t in range(len(full)):
        best = None
        for w, (_, g) in enumerate(windows):
            if g[0] <= t <= g[-1]:
                score = min(t - g[0], g[-1] - t) + 0.01 * len(g)
                if best is None or score > best[0]:
                    best = (score, w)
        owner[t] = best[1]
    assert starts == sorted(starts)
    best = None
    for w, (positions, globals_) in enumerate(windows):
        start = out.start_logits[w].numpy().astype(np.float64)
        end = out.end_logits[w].numpy().astype(np.float64)
        for a, (pi, gi) in enumerate(zip(positions, globals_, strict=True)):
            if owner[gi] != w:
                continue
            for pj, gj in zip(positions[a: a + MAX_ANSWER], globals_[a: a + MAX_ANSWER], strict=True):
                score = start[pi] + end[pj]
                if best is None or score > best[0]:
                    best = (score, full[gi][0], full[gj][1])
    return best


@pytest.mark.parametrize("kind", ["roberta", "xlm-roberta", "deberta-v2"])
def test_foreign_checkpoint_answers_like_an_exhaustive_search_over_its_logits(kind, tmp_path):
    tokenizer = _tokenizer(kind, tmp_path)
    model = _model(kind, len(tokenizer), tokenizer, tmp_path)
    reader = SpanBERTReader(model=str(tmp_path), max_seq_length=MAX_SEQ, stride=STRIDE, max_query_length=24,
                            max_answer_length=MAX_ANSWER, top_k=1, no_answer=False, precision="fp32")
    reader.warm_up()
    template = reader.span_reader.engine.window_tokenizer.template
    if kind == "deberta-v2":
        assert template == InputTemplate((1,), (2,), (2,))
    else:
        assert template == InputTemplate((0,), (2, 2), (2,))  # <s> q </s></s> p </s>
    for question, passage in PAIRS:
        expected = _brute_force(model, tokenizer, question, passage)
        answer = reader.run(query=question, documents=[Document(content=passage)])["answers"][0]
        got = (answer.document_offset.start, answer.document_offset.end)
        assert got == expected[1:], (kind, question, got, expected)
        assert answer.data == passage[got[0]: got[1]]
        assert answer.meta["logit"] == pytest.approx(expected[0], abs=1e-4)


def test_in_repo_loader_refuses_a_foreign_checkpoint_with_a_pointer(tmp_path):
    from spanbert_reader.modeling import CheckpointError, SpanBertForQuestionAnswering

    tokenizer = _tokenizer("roberta", tmp_path)
    _model("roberta", len(tokenizer), tokenizer, tmp_path)
    with pytest.raises(CheckpointError, match="roberta checkpoint; the in-repo model is BERT-only"):
        SpanBertForQuestionAnswering.from_pretrained(str(tmp_path))


def test_int8_on_a_foreign_checkpoint_quantises_its_encoder_and_keeps_its_span_head_and_scores(tmp_path):
    from spanbert_reader.inference.int8 import Int8Linear

    tokenizer = _tokenizer("roberta", tmp_path)
    _model("roberta", len(tokenizer), tokenizer, tmp_path)
    logits = {}
    for precision in ("fp32", "int8"):
        reader = SpanBERTReader(model=str(tmp_path), max_seq_length=MAX_SEQ, stride=STRIDE, max_query_length=24,
                                max_answer_length=MAX_ANSWER, top_k=1, no_answer=False, precision=precision)
        reader.warm_up()
        logits[precision] = [reader.run(query=q, documents=[Document(content=p)])["answers"][0].meta["logit"]
                             for q, p in PAIRS]
    hf = reader.span_reader.model.hf
    assert not [m for m in hf.roberta.modules() if type(m) is torch.nn.Linear]
    assert len([m for m in hf.roberta.encoder.modules() if isinstance(m, Int8Linear)]) == 6 * 2
    assert type(hf.qa_outputs) is torch.nn.Linear
    # the best span's score moves by quantisation noise only (the top logit of each pair, fp32 vs int8)
    assert logits["int8"] == pytest.approx(logits["fp32"], rel=0.05, abs=0.05)
