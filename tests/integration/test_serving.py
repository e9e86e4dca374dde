"""Serving and hardening: the HTTP endpoint (4xx cases), thread safety, run_async, secrets never dumped."""

import asyncio
import threading
from pathlib import Path

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


DOC_WITH_BAD_NAME = Document(content="The Loire is the longest river in France.",
                             meta={"file_path": "rivers-\udcff.txt", "weight": float("nan")})


def _service(root, minilm_qa, docs=DOCS):
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from spanbert_reader.app.qa import build_qa_pipeline
    from spanbert_reader.app.settings import AppSettings
    from spanbert_reader.app.stores import save_memory_store
    from spanbert_reader.serve.service import QAService

    store = InMemoryDocumentStore()
    store.write_documents(docs)
    save_memory_store(store, "default", root / "data")
    settings = AppSettings(data_dir=str(root / "data"), model=str(minilm_qa))
    return QAService(build_qa_pipeline(settings).pipeline)


@pytest.fixture(scope="module")
def service(tmp_path_factory, minilm_qa):
    return _service(tmp_path_factory.mktemp("serve"), minilm_qa, [*DOCS, DOC_WITH_BAD_NAME])


@pytest.fixture(scope="module")
def client(service):
    from fastapi.testclient import TestClient

    from spanbert_reader.serve.app import create_serving_app

    with TestClient(create_serving_app(service, max_body_bytes=2048)) as test_client:
        yield test_client


def _routes(app) -> set[tuple[str, str]]:
    from starlette.routing import Mount

    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        else:
            for method in sorted(getattr(route, "methods", None) or {"ANY"}):
                found.add((method, route.path))
    return found


QA_ROUTES = {("POST", "/spanbert_qa/run"), ("GET", "/health"), ("GET", "/openapi.json"), ("HEAD", "/openapi.json"),
             ("GET", "/docs"), ("GET", "/"), ("MOUNT", "/static"), ("MOUNT", "/docs/assets")}


def test_the_app_has_only_the_routes_a_qa_service_needs(service):
    from spanbert_reader.serve.app import create_serving_app

    assert _routes(create_serving_app(service)) == QA_ROUTES
    assert _routes(create_serving_app(service, mcp=True)) == QA_ROUTES | {("ANY", "/mcp")}


def _package_files() -> dict[str, tuple[int, int]]:
    import spanbert_reader

    root = Path(spanbert_reader.__file__).parent
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_nobody_can_deploy_undeploy_draw_or_write_files(client):
    before = _package_files()
    wrapper = "import os\nopen('/tmp/pwned', 'w').write(os.environ.get('ELASTIC_API_KEY', ''))\n"
    attempts = [("post", "/deploy_files", {"name": "evil", "files": {"pipeline_wrapper.py": wrapper},
                                           "overwrite": True, "save_files": True}),
                ("post", "/deploy-yaml", {"name": "evil", "source_code": "components: {}"}),
                ("post", "/undeploy/spanbert_qa", None), ("get", "/draw/spanbert_qa", None),
                ("get", "/status", None), ("get", "/redoc", None), ("post", "/evil/run", {"question": "x"})]
    for method, path, body in attempts:
        response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
        assert response.status_code in (404, 405), (path, response.status_code, response.text)
    assert _package_files() == before
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/spanbert_qa/run", json={"question": "Who created Python?"}).status_code == 200


def test_cors_is_off_unless_an_origin_is_named(service):
    from fastapi.testclient import TestClient

    from spanbert_reader.serve.app import create_serving_app

    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    with TestClient(create_serving_app(service)) as client:
        response = client.options("/spanbert_qa/run", headers={"origin": "http://evil.example", **preflight})
        assert "access-control-allow-origin" not in response.headers
        response = client.post("/spanbert_qa/run", json={"question": "Who created Python?"},
                               headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    with TestClient(create_serving_app(service, cors_origins=["https://qa.example.org"])) as client:
        allowed = client.options("/spanbert_qa/run", headers={"origin": "https://qa.example.org", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://qa.example.org"
        denied = client.options("/spanbert_qa/run", headers={"origin": "http://evil.example", **preflight})
        assert "access-control-allow-origin" not in denied.headers


def test_bad_cors_origins_are_refused(service):
    from spanbert_reader.app.errors import AppError
    from spanbert_reader.serve.app import create_serving_app

    for origin in ("evil.example", "ftp://x", "https://x/path", ""):
        with pytest.raises(AppError, match="--cors-origin"):
            create_serving_app(service, cors_origins=[origin])


def test_an_api_key_guards_the_api_but_not_the_page_docs_or_health(service):
    from fastapi.testclient import TestClient

    from spanbert_reader.serve.app import create_serving_app

    key = "s3cret-key-for-tests"
    question = {"question": "What is the capital of France?"}
    with TestClient(create_serving_app(service, api_key=key, mcp=True), base_url="http://127.0.0.1:1416") as client:
        missing = client.post("/spanbert_qa/run", json=question)
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert key not in missing.text
        for header in (f"Bearer {key}x", f"Basic {key}", key, f"Bearer {key[:-1]}"):
            assert client.post("/spanbert_qa/run", json=question, headers={"authorization": header}
                               ).status_code == 401, header
        ok = client.post("/spanbert_qa/run", json=question, headers={"authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["answers"]
        assert client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 401
        for path in ("/", "/health", "/docs", "/openapi.json", "/static/page.js", "/docs/assets/swagger-ui.css"):
            assert client.get(path).status_code == 200, path
        schema = client.get("/openapi.json").json()
        assert schema["paths"]["/spanbert_qa/run"]["post"]["security"] == [{"HTTPBearer": []}]


def test_the_key_is_compared_in_constant_time():
    import inspect

    from spanbert_reader.serve import security

    assert security.key_matches(b"Bearer abc", "abc") and security.key_matches(b"bearer abc", "abc")
    assert not security.key_matches(b"Bearer abd", "abc") and not security.key_matches(None, "abc")
    assert "hmac.compare_digest" in inspect.getsource(security.key_matches)


def test_binding_beyond_loopback_without_a_key_warns():
    from spanbert_reader.serve.security import exposure_warning

    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert exposure_warning(host, None) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.org"):
        assert "without an API key" in exposure_warning(host, None), host
        assert exposure_warning(host, "key") is None


@pytest.mark.parametrize("field", ["top_k", "retriever_top_k"])
@pytest.mark.parametrize("value", ["3", True, 3.0, 2.5, None, [3]])
def test_request_types_are_strict(client, field, value):
    response = client.post("/spanbert_qa/run", json={"question": "Where?", field: value})
    assert response.status_code == 422, (field, value, response.text)
    assert response.json()["detail"][0]["loc"][-1] == field


def test_unknown_fields_and_non_string_questions_are_refused(client):
    assert client.post("/spanbert_qa/run", json={"question": "Where?", "topk": 3}).status_code == 422
    for question in (3, True, ["where?"], {"q": "where?"}):
        assert client.post("/spanbert_qa/run", json={"question": question}).status_code == 422, question


def test_a_file_name_that_is_not_utf8_is_shown_with_replacement_characters(client):
    response = client.post("/spanbert_qa/run", json={"question": "Which is the longest river in France?",
                                                     "top_k": 1, "retriever_top_k": 1})
    assert response.status_code == 200, response.text
    best = next(a for a in response.json()["answers"] if not a["no_answer"])
    assert best["answer"] in DOC_WITH_BAD_NAME.content
    assert best["source"] == "rivers-\ufffd.txt" and best["meta"]["file_path"] == "rivers-\ufffd.txt"
    assert best["meta"]["weight"] is None  # NaN is not JSON


def test_answers_carry_their_passage_and_its_rank(client):
    answers = client.post("/spanbert_qa/run", json={"question": "Who created Python?", "top_k": 2}).json()["answers"]
    best = next(a for a in answers if not a["no_answer"])
    offset = best["start"] - best["passage_start"]
    assert best["passage"][offset: offset + len(best["answer"])] == best["answer"]
    assert best["passage_rank"] == 1


def test_the_page_and_the_docs_are_served_from_the_installed_packages(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'id="question"' in page.text and "http" not in page.text.replace("http-equiv", "")  # no CDN
    assert client.get("/static/page.js").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    assert 'src="docs/assets/swagger-ui-bundle.js"' in docs.text
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text


def test_health_says_starting_until_the_service_is_warm(tmp_path, minilm_qa):
    from fastapi.testclient import TestClient

    from spanbert_reader.serve.app import create_serving_app

    service = _service(tmp_path, minilm_qa)
    app = create_serving_app(service)
    assert not service.warm
    assert TestClient(app).get("/health").status_code == 503  # no lifespan: never warmed
    with TestClient(app) as client:  # start-up answers one question first
        assert service.warm and client.get("/health").json() == {"status": "ok", "pipeline": "spanbert_qa"}


def test_endpoint_answers(client):
    assert client.get("/health").json()["status"] == "ok"
    response = client.post("/spanbert_qa/run", json={"question": "What is the capital of France?", "top_k": 2})
    assert response.status_code == 200, response.text
    payload = response.json()
    answers = [a for a in payload["answers"] if not a.get("no_answer")]
    assert 1 <= len(answers) <= 2
    for a in answers:
        assert {"answer", "score", "document_id", "start", "end", "context", "passage"} <= set(a)


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
    from spanbert_reader.serve.limits import BoundedBody

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


def test_the_endpoint_is_an_mcp_tool_with_the_same_typed_arguments(service):
    import json

    from fastapi.testclient import TestClient

    from spanbert_reader.serve.app import create_serving_app

    headers = {"accept": "application/json, text/event-stream"}

    def rpc(client, method, params=None, number=1):
        response = client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": number, "method": method,
                                                              **({"params": params} if params else {})})
        assert response.status_code == 200, response.text
        return response.json()["result"]

    with TestClient(create_serving_app(service, mcp=True), base_url="http://127.0.0.1:1416") as client:
        rpc(client, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                   "clientInfo": {"name": "test", "version": "1"}})
        tools = {tool["name"]: tool for tool in rpc(client, "tools/list", number=2)["tools"]}
        tool = tools["spanbert_qa"]
        assert tool["description"].startswith("Answer a question from the indexed documents")
        properties = tool["inputSchema"]["properties"]
        assert properties["top_k"]["maximum"] == 50 and properties["question"]["maxLength"] == 2000
        result = rpc(client, "tools/call", {"name": "spanbert_qa",
                                            "arguments": {"question": "What is the capital of France?", "top_k": 1}},
                     number=3)
        payload = json.loads(result["content"][0]["text"])
        assert payload["question"] == "What is the capital of France?"
        assert payload["answers"] and payload["answers"][0]["score"] >= 0
        refused = rpc(client, "tools/call", {"name": "spanbert_qa", "arguments": {"question": "Where?", "top_k": "3"}},
                      number=4)
        assert refused["isError"]
        # a page on another site cannot reach the tool through the user's browser (DNS-rebinding protection)
        assert client.post("/mcp", headers={**headers, "host": "evil.example"},
                           json={"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).status_code >= 400


def test_the_hayhooks_wrapper_answers_through_the_same_service(service):
    pytest.importorskip("hayhooks", reason="the hayhooks extra is part of the dev install")
    from spanbert_reader.serve.hayhooks_wrapper import PipelineWrapper

    wrapper = PipelineWrapper()
    wrapper.service = service
    wrapper.setup()
    response = wrapper.run_api("What is the capital of France?", top_k=1)
    assert response.question == "What is the capital of France?" and response.answers
    from fastapi import HTTPException

    with pytest.raises(HTTPException) as refused:
        wrapper.run_api("Where?", top_k=True)
    assert refused.value.status_code == 422


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
