"""The inference engine: chunked, overlapped preparation gives the same predictions as one chunk."""

from spanbert_reader.inference import ExtractiveQA
from spanbert_reader.modeling import SpanBertForQuestionAnswering, load_tokenizer


def test_chunking_does_not_change_predictions(tiny_qa):
    model = SpanBertForQuestionAnswering.from_pretrained(str(tiny_qa))
    tokenizer = load_tokenizer(str(tiny_qa))
    queries = [f"what is the capital number {i}?" for i in range(12)]
    passages = [[f"Paris {i} is the capital of France.", "Berlin is a city on the river Spree." * (i % 3 + 1)]
                for i in range(12)]
    one = ExtractiveQA(model, tokenizer, windows_per_chunk=10_000).predict(queries, passages)
    seen = []
    many = ExtractiveQA(model, tokenizer, windows_per_chunk=2).predict(queries, passages, progress=seen.append)
    assert len(seen) > 3 and sum(seen) == 12
    assert [[(s.passage, s.start, s.end) for s in p.spans] for p in one] == \
        [[(s.passage, s.start, s.end) for s in p.spans] for p in many]
    assert [p.null_logit for p in one] == [p.null_logit for p in many]
