"""Serving and hardening: the HTTP endpoint (4xx cases), thread safety, run_async, secrets never dumped."""

import asyncio
import threading

import pytest
from haystack import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanbert_reader import SpanBERTReader

DOCS = [Document(content="Paris is the capital of France. The Seine flows through Paris."),
        Document(content="Berlin is the capital of Germany and lies on the Spree."),
        Document(content="Python is a programming language created by Guido van Rossum.")]
QUERIES = ["What is the capital of France?", "Which river flows through Paris?", "Who created Python?",
           "Where is Berlin?"]


def _key(answers):
    return [(a.data, a.document_offset and (a.document_offset.start, a.document_offset.end), round(a.score, 6))
            for a in answers]


def test_reader_is_thread_safe(minilm_qa):
    reader = SpanBERTReader(model=str(minilm_qa), top_k=3)  # warm_up races on purpose
    jobs = [(QUERIES[i % 4], DOCS[: 1 + i % 3]) for i in range(24)]
    sequential_reader = SpanBERTReader(model=str(minilm_qa), top_k=3)
    expected = [_key(sequential_reader.run(query=q, documents=d)["answers"]) for q, d in jobs]
    results = [None] * len(jobs)
    errors = []

    def work(worker):
        try:
            for index in range(worker, len(jobs), 8):
                q, d = jobs[index]
                results[index] = _key(reader.run(query=q, documents=d)["answers"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == expected


def test_run_async_in_an_async_pipeline_run(minilm_qa):
    from haystack import Pipeline

    reader = SpanBERTReader(model=str(minilm_qa), top_k=2)
    pipeline = Pipeline()
    pipeline.add_component("reader", reader)

    async def main():
        single = await reader.run_async(query=QUERIES[0], documents=DOCS)
        gathered = await asyncio.gather(*(pipeline.run_async({"reader": {"query": q, "documents": DOCS}})
                                          for q in QUERIES))
        return single, gathered

    single, gathered = asyncio.run(main())
    assert _key(single["answers"]) == _key(reader.run(query=QUERIES[0], documents=DOCS)["answers"])
    for q, result in zip(QUERIES, gathered, strict=True):
        assert _key(result["reader"]["answers"]) == _key(reader.run(query=q, documents=DOCS)["answers"])


def test_secrets_never_appear_in_dumps(monkeypatch, tiny_qa):
    from spanbert_reader.app.pipelines import load_pipeline

    monkeypatch.setenv("ELASTIC_API_KEY", "super-secret-es-key")
    monkeypatch.setenv("HF_TOKEN", "hf_super_secret_token")
    pipeline = load_pipeline("elasticsearch_qa", {"SPANBERT_MODEL": str(tiny_qa)})
    dumped = pipeline.dumps()
    assert "super-secret-es-key" not in dumped and "hf_super_secret_token" not in dumped
    assert "ELASTIC_API_KEY" in dumped and "HF_TOKEN" in dumped  # referenced by name only


@pytest.fixture(scope="module")
def client(tmp_path_factory, minilm_qa):
    from fastapi.testclient import TestClient
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.app.settings import AppSettings
    from spanbert_reader.app.stores import save_memory_store
    from spanbert_reader.serve.app import create_serving_app
    from spanbert_reader.serve.wrapper import ServingSetup

    root = tmp_path_factory.mktemp("serve")
    store = InMemoryDocumentStore()
    store.write_documents(DOCS)
    save_memory_store(store, "default", root / "data")
    settings = AppSettings(data_dir=str(root / "data"), model=str(minilm_qa))
    setup = ServingSetup(build_qa_pipeline(settings).pipeline)
    app = create_serving_app(max_body_bytes=2048, setup=setup)
    with TestClient(app) as test_client:
        yield test_client


def test_endpoint_answers(client):
    assert client.get("/health").json()["status"] == "ok"
    response = client.post("/spanbert_qa/run", json={"question": "What is the capital of France?", "top_k": 2})
    assert response.status_code == 200, response.text
    payload = response.json()["result"] if "result" in response.json() else response.json()
    answers = [a for a in payload["answers"] if not a.get("no_answer")]
    assert 1 <= len(answers) <= 2
    for a in answers:
        assert {"answer", "score", "document_id", "start", "end", "context"} <= set(a)


@pytest.mark.parametrize(("body", "status"), [
    ({}, 422),  # missing question
    ({"question": "   "}, 422),  # empty
    ({"question": "ok?", "top_k": 0}, 422),
    ({"question": "ok?", "top_k": 500}, 422),
    ({"question": "ok?", "retriever_top_k": -1}, 422),
    ({"question": "x" * 5000}, 413),  # oversized body
])
def test_endpoint_rejects_bad_requests_with_4xx(client, body, status):
    response = client.post("/spanbert_qa/run", json=body)
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text


def test_lone_surrogate_question_is_422_without_internals(client):
    response = client.post("/spanbert_qa/run", content=b'{"question": "\\ud800 where?"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "SpanBERTReader" not in response.text and "Traceback" not in response.text


def _drive(middleware_receive, max_bytes=2048, timeout=1.0):
    from spanbert_reader.serve.app import BoundedBody

    sent, reached = [], []

    async def app(scope, receive, send):
        reached.append((await receive())["body"])

    async def send(message):
        sent.append(message)

    asyncio.run(BoundedBody(app, max_bytes, timeout)({"type": "http", "method": "POST", "headers": []},
                                                       middleware_receive, send))
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return status, reached


def test_chunked_body_over_the_limit_is_413_before_it_is_all_read():
    calls = []

    async def endless():  # a chunked body of unbounded size, 1 KB at a time
        calls.append(1)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    status, reached = _drive(endless)
    assert status == 413 and not reached and len(calls) == 3  # stopped at the first chunk past 2 KB


def test_stalled_body_is_408_and_small_chunked_body_reaches_the_app():
    async def stalled():
        await asyncio.sleep(30)

    assert _drive(stalled, timeout=0.2)[0] == 408
    chunks = [b'{"question": ', b'"where?"}']

    async def two_chunks():
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    status, reached = _drive(two_chunks)
    assert status is None and reached == [b'{"question": "where?"}']


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=50),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=10)
REQUEST = st.fixed_dictionaries({}, optional={"question": JSON | st.text(max_size=300), "top_k": JSON,
                                              "retriever_top_k": JSON}) | JSON


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=REQUEST)
def test_any_json_body_gets_2xx_or_4xx_and_no_internals(client, body):
    response = client.post("/spanbert_qa/run", json=body)
    assert 200 <= response.status_code < 500, (body, response.status_code, response.text)
    for leak in ("Traceback", "SpanBERTReader", "spanbert_reader", "PipelineRuntimeError"):
        assert leak not in response.text, (body, response.text)


def test_openapi_schema_has_typed_bounded_documented_parameters_and_response(client):
    schema = client.get("/openapi.json").json()
    run = schema["paths"]["/spanbert_qa/run"]["post"]
    request_ref = run["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    request = schema["components"]["schemas"][request_ref]["properties"]
    assert request["top_k"]["minimum"] == 1 and request["top_k"]["maximum"] == 50
    assert request["retriever_top_k"]["minimum"] == 1 and request["retriever_top_k"]["maximum"] == 50
    assert request["question"]["minLength"] == 1 and request["question"]["maxLength"] == 2000
    assert request["question"]["description"].startswith("The question to answer")
    assert "Parameter 'question'" not in str(request)
    assert run["description"] or run["summary"]
    components = schema["components"]["schemas"]
    answer = components["Answer"]["properties"]
    assert "character offset" in answer["start"]["description"].lower()
    assert {"answer", "score", "document_id", "source", "start", "end", "context"} <= set(answer)
    assert components["QAResponse"]["properties"]["answers"]["items"]["$ref"].endswith("/Answer")


def test_bounds_come_from_the_schema(client):
    response = client.post("/spanbert_qa/run", json={"question": "Where?", "top_k": 51})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "top_k"


def test_the_endpoint_is_an_mcp_tool_with_the_same_typed_arguments(client):
    pytest.importorskip("mcp", reason="hayhooks[mcp] is part of the dev install")
    from hayhooks.server.pipelines import registry
    from hayhooks.server.utils.mcp_utils import list_pipelines_as_tools, run_pipeline_as_tool

    tools = {tool.name: tool for tool in asyncio.run(list_pipelines_as_tools(registry))}
    tool = tools["spanbert_qa"]
    assert tool.description.startswith("Answer a question from the indexed documents")
    properties = tool.inputSchema["properties"]
    assert properties["top_k"]["maximum"] == 50 and properties["question"]["maxLength"] == 2000
    result = asyncio.run(run_pipeline_as_tool(registry, "spanbert_qa", {"question": "What is the capital of France?",
                                                                       "top_k": 1}))
    text = " ".join(getattr(part, "text", "") for part in result)
    assert "What is the capital of France?" in text and "answers=" in text and "document_id=" in text


def test_a_client_that_never_finishes_its_request_head_is_disconnected():
    import socket
    import time

    import uvicorn

    from spanbert_reader.serve.protocol import HeaderDeadlineProtocol

    class Quick(HeaderDeadlineProtocol):
        header_timeout = 0.5

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=Quick, log_level="error",
                                          timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
            stalled.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\n")  # and then nothing more
            started = time.monotonic()
            assert stalled.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 3
        with socket.create_connection(("127.0.0.1", port), timeout=5) as normal:
            normal.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert normal.recv(200).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
