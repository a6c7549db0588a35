"""The OpenAI-compatible endpoint, driven as its users drive it: the official ``openai`` client,
plain ``requests`` for the error shapes, raw sockets for the wire, and the ``api`` command as a
subprocess; all against the built-in stand-in over real sockets."""

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import wsgiref.simple_server
from contextlib import contextmanager
from urllib.parse import urlsplit

import openai
import pytest
import requests

from chatgpt_providers.interfaces.cli import EXIT_USAGE
from chatgpt_providers.interfaces.server import INSTALL_HINT, APIServer, create_app
from chatgpt_providers.testing import make_reply

HI = [{"role": "user", "content": "Hi there"}]
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def serve(site):
    """Start the endpoint (waitress, in this process) with the presets pointed at the stand-in."""
    servers = []

    def start(**options):
        options.setdefault("base_url", site.url)
        server = APIServer(create_app(**options), port=0, threads=8).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()


def client_for(url, key="unused"):
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)


def post(url, body, **kwargs):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url + "/v1/chat/completions", data=data, timeout=30,
                         headers={"Content-Type": "application/json", **kwargs.pop("headers", {})},
                         **kwargs)


def assert_error_shape(response, status, code=None, param=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def chat_records(site):
    return [r for r in site.requests if r.route in ("submit", "ajax")]


# -- models -------------------------------------------------------------------------------


def test_models_are_the_presets_auto_and_each_site_made_on_first_use(site, serve):
    url = serve(sites=[f"mine={site.url}/", site.url + "/?p=1"])
    with client_for(url) as client:
        assert [m.id for m in client.models.list()] == [
            "chatgpt4online", "chatgptt", "auto", "mine", "127.0.0.1"]
        assert client.models.retrieve("auto").owned_by == "chatgpt-providers"
        assert "page" not in site.routes()  # listing detects nothing
        for _ in range(2):
            done = client.chat.completions.create(model="mine", messages=HI)
            assert done.choices[0].message.content == "Echo: Hi there"
        assert site.routes().count("page") == 1  # detected once, then shared
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-4o")


def test_an_ai_power_2_3_plus_site_as_a_model(serve):
    from chatgpt_providers.testing import LocalSite

    with LocalSite(delay=0, plugins=("aipkit",)) as upgraded:
        url = serve(sites=[f"kit={upgraded.url}/"])
        with client_for(url) as client:
            done = client.chat.completions.create(model="kit", messages=HI)
            assert done.choices[0].message.content == "Echo: Hi there"
            streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="kit", messages=HI, stream=True))
            assert streamed == "Echo: Hi there"
        assert upgraded.routes() == ["page"] + ["aipkit_cache", "aipkit_stream"] * 2


@pytest.mark.parametrize("model", ["chatgpt4online", "chatgptt", "auto"])
def test_complete_through_every_model(serve, model):
    with client_for(serve()) as client:
        done = client.chat.completions.create(model=model, messages=HI)
    assert (done.object, done.model) == ("chat.completion", model)
    assert done.id.startswith("chatcmpl-")
    choice = done.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == (
        "assistant", "Echo: Hi there", "stop")
    if model == "chatgptt":  # AI Power reports no usage: null, never invented
        assert done.usage is None
    else:  # AI Engine's own figures (auto asks Chatgpt4Online first)
        usage = done.usage
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["chatgpt4online", "chatgptt", "auto"])
def test_stream_through_every_model(serve, model):
    with client_for(serve()) as client:
        chunks = list(client.chat.completions.create(
            model=model, messages=HI, stream=True, stream_options={"include_usage": True}))
        plain = list(client.chat.completions.create(model=model, messages=HI, stream=True))
    *deltas, last = chunks
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    assert deltas[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in deltas[1:])
    assert "".join(c.choices[0].delta.content or "" for c in deltas) == "Echo: Hi there"
    assert len(deltas) >= 4  # word by word, as the site sent them
    assert [c.choices[0].finish_reason for c in deltas] == [None] * (len(deltas) - 1) + ["stop"]
    assert all(c.usage is None for c in deltas)
    assert last.choices == []
    if model == "chatgptt":
        assert last.usage is None
    else:
        assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.choices for c in plain)  # no usage chunk unless asked for
    assert "".join(c.choices[0].delta.content or "" for c in plain) == "Echo: Hi there"
    answering = {"chatgpt4online": "Chatgpt4Online", "chatgptt": "ChatGptt", "auto": "Chatgpt4Online"}
    assert {c.model_extra["provider"] for c in chunks} == {answering[model]}  # every chunk, first to last


def test_history_system_content_parts_and_ignored_options_reach_the_site(serve):
    messages = [{"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Echo: Hi"},
                {"role": "user", "content": [{"type": "text", "text": "And now?"}]}]
    with client_for(serve()) as client:
        done = client.chat.completions.create(
            model="chatgptt", messages=messages, temperature=0.2, top_p=0.5, max_tokens=50,
            stop=["\n\n\n"], seed=7, user="u1", presence_penalty=0.1, frequency_penalty=0.1,
            tool_choice="none", metadata={"a": "b"}, response_format={"type": "text"})
    expected = make_reply("Be brief.\n\nAnd now?", ["Hi", "Echo: Hi"])
    assert done.choices[0].message.content == expected


# -- errors -------------------------------------------------------------------------------

GOOD = {"model": "auto", "messages": HI}


@pytest.mark.parametrize("body, param, code", [
    (b"{bad", None, "invalid_json"),
    (b"", None, "invalid_json"),
    (b"[1, 2]", None, "invalid_json"),
    ({"messages": HI}, "model", "missing_required_parameter"),
    ({"model": "auto"}, "messages", "missing_required_parameter"),
    ({"model": "auto", "messages": []}, "messages", "invalid_value"),
    ({"model": "auto", "messages": [{"role": "assistant", "content": "x"}]}, "messages", None),
    ({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]}]},
     "messages[0].content", "unsupported_content"),
    ({**GOOD, "n": 2}, "n", None),
    ({**GOOD, "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", None),
    ({**GOOD, "response_format": {"type": "json_object"}}, "response_format", None),
    ({**GOOD, "stream": "yes"}, "stream", None),
    ({"model": "auto", "messages": HI + [{"role": "tool", "content": "42", "tool_call_id": "1"}]},
     "messages", None),
])
def test_bad_bodies_are_400_in_openai_shape(site, serve, body, param, code):
    error = assert_error_shape(post(serve(), body), 400, code, param)
    assert error["type"] == "invalid_request_error"
    assert chat_records(site) == []  # nothing was sent to the site


def test_the_openai_client_raises_its_own_errors(serve):
    with client_for(serve()) as client:
        with pytest.raises(openai.BadRequestError, match="n must be 1"):
            client.chat.completions.create(model="auto", messages=HI, n=2)
        with pytest.raises(openai.NotFoundError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
    assert raised.value.status_code == 404
    assert raised.value.body["code"] == "model_not_found"
    assert "chatgpt4online, chatgptt, auto" in raised.value.body["message"]


def test_unknown_routes_methods_and_large_bodies(serve):
    url = serve(max_body_bytes=2000)
    assert_error_shape(requests.post(url + "/v1/embeddings", json={}, timeout=10), 404, "unknown_url")
    assert_error_shape(requests.get(url + "/v1/models/gpt-4o", timeout=10), 404, "model_not_found")
    response = requests.get(url + "/v1/chat/completions", timeout=10)
    assert_error_shape(response, 405)
    assert response.headers["Allow"] == "POST"
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * 3000}]}
    assert_error_shape(post(url, big), 413, "request_too_large")
    fits = {**GOOD, "messages": [{"role": "user", "content": "x" * 1500}]}
    assert post(url, fits).status_code == 200
    assert requests.get(url + "/models", timeout=10).status_code == 200  # /v1 is optional


def test_api_key_is_required_when_set(serve):
    url = serve(api_key="s3cret-key")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-key"}):
        response = requests.get(url + "/v1/models", headers=headers, timeout=10)
        assert_error_shape(response, 401, "invalid_api_key")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with client_for(url, key="wrong") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="auto", messages=HI)
    with client_for(url, key="s3cret-key") as client:
        assert client.chat.completions.create(model="auto", messages=HI).choices[0].message.content
        assert [m.id for m in client.models.list()][-1] == "auto"


def test_rate_limit_is_429_with_retry_after(site, serve):
    url = serve(retries=0)  # the SDK would otherwise wait the 3 s itself and retry
    site.inject("rate_limit", retry_after=3)
    with client_for(url) as client:
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="chatgptt", messages=HI)
        assert raised.value.response.headers["Retry-After"] == "3"
        assert raised.value.body["type"] == "rate_limit_error"
        site.inject("rate_limit", retry_after=3)
        with pytest.raises(openai.RateLimitError):  # a stream that failed before any text
            client.chat.completions.create(model="chatgptt", messages=HI, stream=True)
        assert client.chat.completions.create(model="chatgptt", messages=HI).choices


def test_site_failure_is_502_and_timeout_504(site, serve):
    url = serve(retries=0, timeout=(5, 0.3))
    site.inject("http_500")
    response = post(url, {**GOOD, "model": "chatgptt"})
    assert_error_shape(response, 502, "server_error")
    assert response.headers["x-should-retry"] == "false"  # the providers did the retrying
    with client_for(url) as client:
        site.inject("cloudflare")
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="chatgpt4online", messages=HI)
        assert raised.value.status_code == 502 and raised.value.body["code"] == "blocked_error"
        site.latency = 1.0
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="chatgptt", messages=HI, stream=True)
    site.latency = 0.0
    assert raised.value.status_code == 504 and raised.value.body["code"] == "timeout_error"


@pytest.mark.parametrize("model, fault", [("chatgptt", "drop"), ("chatgpt4online", "error_event"),
                                          ("auto", "drop")])
def test_a_failure_mid_stream_ends_the_stream_with_an_error_event(site, serve, model, fault):
    url = serve()
    question = [{"role": "user", "content": "one two three four five six seven eight"}]
    site.inject(fault)
    received = []
    with client_for(url) as client, pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model=model, messages=question, stream=True):
            received.append(chunk.choices[0].delta.content)
    text = "".join(received)
    assert text and "Echo: one two three four five six seven eight".startswith(text)
    assert text != "Echo: one two three four five six seven eight"
    assert type(raised.value) is openai.APIError  # the client's in-stream error
    assert raised.value.body["code"] in ("stream_interrupted_error", "server_error")
    # On the wire: deltas, then one error event, and no stop chunk, [DONE] or second answer.
    site.inject(fault)
    response = post(url, {"model": model, "messages": question, "stream": True})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n\n") if line]
    assert all(event.startswith("data: ") for event in events)
    *deltas, last = [json.loads(event[6:]) for event in events]
    assert set(last) == {"error"} and set(last["error"]) == ERROR_KEYS
    assert all(d["object"] == "chat.completion.chunk" and d["choices"][0]["finish_reason"] is None
               for d in deltas)


def test_concurrent_clients_share_one_client_per_site(site, serve):
    url = serve()
    results = {}

    def work(index):
        with client_for(url) as client:
            for turn, model in enumerate(("chatgpt4online", "chatgptt", "auto")):
                question = [{"role": "user", "content": f"q {index} {turn}"}]
                if (index + turn) % 2:
                    stream = client.chat.completions.create(model=model, messages=question,
                                                            stream=True)
                    answer = "".join(c.choices[0].delta.content or "" for c in stream)
                else:
                    answer = client.chat.completions.create(
                        model=model, messages=question).choices[0].message.content
                results[(index, turn)] = answer

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {(i, t): f"Echo: q {i} {t}" for i in range(8) for t in range(3)}
    routes = site.routes()
    assert routes.count("session") == 1 and routes.count("page") == 1  # one nonce per site
    assert routes.count("submit") + routes.count("ajax") == 24
    assert site.connections <= 8 + 8 + 2  # kept-alive connections, at most one per thread and site


# -- the wire: every delta flushed as it arrives ------------------------------------------------


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def running(kind, app):
    """The app under waitress (APIServer) or the standard library's wsgiref."""
    if kind == "waitress":
        with APIServer(app, port=0, threads=4) as server:
            yield server.url
        return
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer,
                                               handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        app.close()


def raw_stream(url, body):
    """A raw socket that has sent a streaming request."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    data = json.dumps(body).encode()
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def read_until(sock, marker):
    data = b""
    while marker not in data:
        piece = sock.recv(65536)
        assert piece, f"the connection ended before {marker!r}: {data!r}"
        data += piece
    return data


@pytest.mark.parametrize("kind", ["waitress", "wsgiref"])
def test_each_delta_reaches_the_client_while_the_site_is_still_streaming(site, kind):
    words = " ".join(f"w{i}" for i in range(20))
    total = len(make_reply(words, []).split())
    with running(kind, create_app(base_url=site.url)) as url:
        site.delay = 0.15  # 3 s for the whole reply: a buffering server would show it
        sock = raw_stream(url, {"model": "chatgptt", "stream": True,
                                "messages": [{"role": "user", "content": words}]})
        with sock:
            head = read_until(sock, b'"content":"Echo: "')
            record = chat_records(site)[-1]
            assert record.finished_at == 0.0 and record.events_written < total
            assert b" 200 OK\r\n" in head and b"text/event-stream" in head
        # The client went away: the endpoint stops reading the site instead of draining it.
        deadline = time.monotonic() + 10
        while record.finished_at == 0.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert record.events_written < total
        site.delay = 0.001
        with client_for(url) as client:  # and the official client streams through it
            stream = client.chat.completions.create(model="chatgpt4online", messages=HI, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream) == "Echo: Hi there"


# -- CORS -----------------------------------------------------------------------------------


def test_no_cors_headers_unless_an_origin_is_allowed(serve):
    origin = {"Origin": "https://ui.example"}
    response = post(serve(), GOOD, headers=origin)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    url = serve(cors=["https://ui.example"])
    preflight = requests.options(url + "/v1/chat/completions", timeout=10, headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert post(url, GOOD, headers=origin).headers["Access-Control-Allow-Origin"] == "https://ui.example"
    other = post(url, GOOD, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


# -- the command --------------------------------------------------------------------------


def run_cli(*args, code=None, timeout=30):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("CHATGPT_PROVIDERS_API_KEY", None)
    command = [sys.executable, "-m", "chatgpt_providers", *args]
    if code is not None:
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.skipif(os.name != "posix", reason="Ctrl-C and SIGTERM are POSIX signals")
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_api_command_serves_the_openai_client_and_stops_cleanly(site, stop):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "chatgpt_providers", "api", "--port", "0", "--base-url", site.url,
         "--threads", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        assert first.startswith("OpenAI-compatible API at http://127.0.0.1:"), first
        base = first.split(" at ", 1)[1].split()[0]
        with openai.OpenAI(base_url=base, api_key="unused", max_retries=0) as client:
            stream = client.chat.completions.create(model="chatgptt", stream=True, messages=[
                {"role": "user", "content": "Secret question"}])
            assert "".join(c.choices[0].delta.content or "" for c in stream) == "Echo: Secret question"
            done = client.chat.completions.create(model="auto", messages=HI)
            assert done.choices[0].message.content == "Echo: Hi there"
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="nope", messages=HI)
    finally:
        process.send_signal(getattr(signal, stop))
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    lines = [line for line in err.splitlines() if "/v1/" in line]
    assert len(lines) == 3, err
    assert " POST /v1/chat/completions 200 model=chatgptt stream " in lines[0]
    assert " POST /v1/chat/completions 200 model=auto " in lines[1]
    assert " POST /v1/chat/completions 404 model=nope " in lines[2]
    assert "Secret" not in err and "Traceback" not in err


def test_api_command_without_waitress_says_how_to_install_it():
    code = ("import sys; sys.modules['waitress'] = None; "
            "from chatgpt_providers.interfaces.cli import main; sys.exit(main(sys.argv[1:]))")
    done = run_cli("api", "--port", "0", code=code)
    assert done.returncode == EXIT_USAGE
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and INSTALL_HINT in done.stderr


def test_api_command_warns_before_serving_beyond_this_machine_without_a_key():
    # 192.0.2.1 is a documentation address: binding it fails, so nothing is ever exposed.
    done = run_cli("api", "--host", "192.0.2.1", "--port", "0")
    assert done.returncode == EXIT_USAGE and done.stdout == ""
    warning, error = done.stderr.strip().splitlines()
    assert "warning: serving on 192.0.2.1 without --api-key" in warning
    assert "cannot listen on 192.0.2.1" in error
    done = run_cli("api", "--host", "192.0.2.1", "--port", "0", "--api-key", "k")
    assert "warning" not in done.stderr and "cannot listen" in done.stderr
    done = run_cli("api", "--provider", "gpt-4o")
    assert done.returncode == EXIT_USAGE and "invalid choice" in done.stderr
    done = run_cli("api", "--site", "not a url")
    assert done.returncode == EXIT_USAGE and "--site needs an http(s) page address" in done.stderr


def test_module_level_app_for_other_wsgi_servers_reads_its_key_from_the_environment(monkeypatch):
    from chatgpt_providers.interfaces import server

    monkeypatch.setenv("CHATGPT_PROVIDERS_API_KEY", "from-env")
    monkeypatch.delitem(server.__dict__, "app", raising=False)
    try:
        app = server.app  # made on first access, then the same object
        assert app is server.app and app.requires_key
        assert app.models.ids() == ["chatgpt4online", "chatgptt", "auto"]
    finally:
        server.__dict__.pop("app", None)
