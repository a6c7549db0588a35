"""Issue 16 points 6, 8, 11: the API server under hostile input, callers that hang up, and
used-up quotas; over real sockets, with raw-socket sites that stay quiet."""

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import openai
import pytest
import requests
from rawserver import Connection, RawServer, Request, chunk, response, stream_head

from chatgpt_providers.interfaces.server import APIServer, create_app
from chatgpt_providers.testing import LocalSite

ERROR_KEYS = {"message", "type", "param", "code"}


def post_raw(url, data, headers=None):
    return requests.post(url + "/v1/chat/completions", data=data, timeout=30,
                         headers={"Content-Type": "application/json", **(headers or {})})


def chat_records(site):
    return [r for r in site.requests if r.route in ("submit", "ajax", "aipkit_cache", "aipkit_stream")]


# -- point 6: every caller mistake is a 4xx in OpenAI's shape ----------------------------------

HOSTILE = [
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": "Hi \\ud800"}]}',
     "messages[0].content"),
    (b"[" * 100000 + b"]" * 100000, None),
    (b'{"model": "chatgptt", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", None),
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": "Hi"}], "n": NaN}', "n"),
    (b'{"model": {"a": 1}, "messages": "Hi"}', "model"),
    (b'{"model": "chatgptt", "messages": [{"role": ["user"], "content": "Hi"}]}', "messages"),
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}',
     "messages[0].content"),
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": "Hi"}], "stream": true, '
     b'"stream_options": {"include_usage": true, "x": 1}}', "stream_options"),
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": "Hi"}], "stop": {"a": 1}}', "stop"),
    (b'{"model": "chatgptt", "messages": "\xff\xfe not utf-8"}', None),
    (b'{"model": "chatgptt", "messages": [{"role": "user", "content": "Hi"}], '
     b'"tool_choice": "required"}', "tool_choice"),
]


@pytest.mark.parametrize("data, param", HOSTILE)
def test_hostile_bodies_are_400_in_openai_shape_and_reach_no_site(site, data, param):
    with APIServer(create_app(base_url=site.url, retries=0), port=0, threads=2) as server:
        answer = post_raw(server.url, data)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert set(error) == ERROR_KEYS and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert chat_records(site) == []


def test_a_message_the_2_3_plugin_refuses_is_400_not_500():
    with LocalSite(delay=0, plugins=("aipkit",)) as kit, \
            APIServer(create_app([], sites=[f"kit={kit.url}/"], retries=0), port=0) as server:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0) as client:
            for stream in (False, True):
                with pytest.raises(openai.BadRequestError) as raised:
                    client.chat.completions.create(model="kit", messages=[
                        {"role": "user", "content": "0"}], stream=stream)
                assert raised.value.body["param"] == "messages"
        assert "aipkit_cache" not in kit.routes() and "aipkit_stream" not in kit.routes()


# -- point 11: a used-up quota is not retried by the official client ---------------------------

def test_a_used_up_quota_says_do_not_retry_and_a_rate_limit_stays_retryable(site):
    with APIServer(create_app(base_url=site.url, retries=0), port=0) as server:
        site.inject("token_limit")
        with openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=2) as client, \
                pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="chatgptt", messages="Hi")
        assert raised.value.response.headers["x-should-retry"] == "false"
        assert len(chat_records(site)) == 1  # the client did not send the message again
        site.inject("rate_limit", retry_after=3)
        answer = post_raw(server.url, json.dumps({"model": "chatgptt", "messages": "Hi"}))
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
        assert "x-should-retry" not in answer.headers


# -- point 8: callers that hang up ----------------------------------------------------------

NONCE = "0a1b2c3d4e"


def power_page(url):
    return (f'<html><body><div class="wpaicg-chat-shortcode" data-url="{url}/" data-nonce="{NONCE}" '
            'data-post-id="58" data-bot-id="0" data-type="shortcode"></div></body></html>').encode()


def power_delta(text):
    event = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: %s\n\n" % json.dumps(event).encode()


def raw_chat(url, message, stream=True):
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    data = json.dumps({"model": "chatgptt", "stream": stream,
                       "messages": [{"role": "user", "content": message}]}).encode()
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                 + data)
    return sock


def wait_for(condition, seconds=10.0):
    """A bounded wait for a condition another thread makes true (not a timing assumption)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_stream_whose_caller_left_closes_the_quiet_site_connection_at_once():
    site_saw_close = threading.Event()

    def quiet_site(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
            return
        conn.send(stream_head() + chunk(power_delta("Hel")))  # then nothing, for 20 s
        if conn.wait_for_client_close(timeout=20):
            site_saw_close.set()
        conn.close()

    with RawServer(quiet_site) as server, APIServer(create_app(
            ["chatgptt"], base_url=server.url, retries=0, timeout=(5, 30)), port=0) as api:
        sock = raw_chat(api.url, "Hi")
        data = b""
        while b'"Hel"' not in data:
            piece = sock.recv(65536)
            assert piece, data
            data += piece
        sock.close()  # the caller hangs up while the site is quiet
        # The read timeout is 30 s: only noticing the caller closes the site's connection in 3 s.
        assert site_saw_close.wait(3), "the site's connection stayed open after the caller left"


def test_a_queued_request_whose_caller_left_never_reaches_the_site():
    release = threading.Event()
    first_started = threading.Event()

    def site_script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
            return
        conn.send(stream_head() + chunk(power_delta("Hel")))
        first_started.set()
        release.wait(20)
        conn.send(chunk(power_delta("lo") + b"data: [DONE]\n\n") + b"0\r\n\r\n")

    with RawServer(site_script) as server, APIServer(create_app(
            ["chatgptt"], base_url=server.url, retries=0), port=0, threads=1) as api:
        with openai.OpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0) as client:
            stream = client.chat.completions.create(model="chatgptt", messages="first", stream=True)
            first = next(stream)  # the only request thread is now busy with this stream
            assert first_started.is_set() and first.choices[0].delta.content == "Hel"
            queue = api._server.task_dispatcher.queue  # waitress queues the channel itself
            queued = raw_chat(api.url, "second, sent by a caller who leaves", stream=False)
            assert wait_for(lambda: len(queue) == 1)  # received whole, waiting for the thread
            channel = queue[0]
            queued.close()
            assert wait_for(lambda: not channel.connected)  # waitress saw the caller leave
            release.set()
            assert "".join(c.choices[0].delta.content or "" for c in stream) == "lo"
        # a third request is answered: the thread was not lost
        with openai.OpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0) as client:
            release.set()
            assert client.chat.completions.create(model="chatgptt", messages="third").choices
    posted = [r.form.get("message", "") for r in server.requests if r.method == "POST"]
    assert not any("second" in m for m in posted), posted
    assert any("first" in m for m in posted) and any("third" in m for m in posted)


# -- issue 19 points 7 and 11: a connectable address, one style in the log ----------------------

def test_api_on_the_wildcard_address_prints_one_to_connect_to(site):
    import os
    import signal
    import subprocess
    import sys

    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "chatgpt_providers", "api", "--host", "0.0.0.0", "--port", "0",
         "--base-url", site.url, "--api-key", "k"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        assert first.startswith("OpenAI-compatible API at http://127.0.0.1:"), first
        base = first.split(" at ", 1)[1].split()[0]
        with openai.OpenAI(base_url=base, api_key="k", max_retries=0) as client:
            assert "auto" in [m.id for m in client.models.list()]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def test_the_log_names_every_outcome_by_its_error_code(site, caplog):
    import re

    caplog.set_level("INFO", logger="chatgpt_providers")
    with APIServer(create_app(base_url=site.url, retries=0), port=0) as server:
        site.inject("drop")
        post_raw(server.url, json.dumps({"model": "chatgptt", "stream": True, "messages":
                                         "one two three four five six"}))
        site.inject("http_500")
        post_raw(server.url, json.dumps({"model": "chatgptt", "messages": "Hi"}))
        post_raw(server.url, json.dumps({"model": "nope", "messages": "Hi"}))
        post_raw(server.url, json.dumps({"model": "auto", "messages": "Hi", "n": 3}))
    outcomes = [re.search(r"\((.*)\)$", r.getMessage()).group(1) for r in caplog.records
                if "/v1/chat/completions" in r.getMessage()]
    assert len(outcomes) == 4, outcomes
    assert re.fullmatch(r"stream_interrupted_error after \d+ characters", outcomes[0])
    assert outcomes[1:] == ["server_error", "model_not_found", "unsupported_value"]
