"""Issue 11: OpenAI SDK habits, written exactly as OpenAI SDK code is written."""

import json
import socket
import threading

import pytest

import chatgpt_providers
from chatgpt_providers import Chatgpt4Online, ChatGptt, Client, RetryProvider
from chatgpt_providers.testing import LocalSite

PROVIDERS = [Chatgpt4Online, ChatGptt]
CHAT_ROUTES = ("submit", "ajax")


def chat_requests(site):
    return [r for r in site.requests if r.route in CHAT_ROUTES]


# -- Client(api_key=..., base_url=...) ---------------------------------------------------------

def test_client_takes_api_key_and_base_url_as_openai_users_pass_them(site):
    client = Client(api_key="sk-not-needed", base_url=site.url)  # no provider: the site's plugin
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content == "Echo: Hi"
    assert completion.provider == "AIEngine"  # the generic protocol client, on that site

    client = Client(provider="chatgptt", api_key="sk-x", organization="org-x", base_url=site.url,
                    max_retries=0, default_headers={"X-Team": "docs"})
    assert client.provider.retry_policy.retries == 0
    assert client.chat.completions.create(model="m", messages="Hi").choices[0].message.content \
        == "Echo: Hi"
    assert chat_requests(site)[-1].headers["X-Team"] == "docs"


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://localhost:1337/v1",
                                 "https://openrouter.ai/api/v1/"])
def test_an_openai_api_address_as_base_url_is_explained(url):
    with pytest.raises(ValueError, match="WordPress site whose chatbot answers"):
        Client(base_url=url, api_key="sk-x")


# -- create(stream=True) is an OpenAI SDK Stream ------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_iterates_and_closes_like_the_openai_sdk(site, provider):
    client = Client(provider=provider, base_url=site.url)
    stream = client.chat.completions.create(model="gpt-4o", messages="Hi there", stream=True)
    text = ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
    assert text == "Echo: Hi there"
    stream.close()  # after the end: nothing to do, no error

    with client.chat.completions.create(model="gpt-4o", messages="one two", stream=True) as stream:
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
    with pytest.raises(StopIteration):
        next(stream)  # closed by the with block


class StallingAIPowerSite:
    """A raw-socket AI Power site: serves the page, then answers a message with one word and
    holds the stream open, noting when the client closes the connection."""

    PAGE = (b'<div class="wpaicg-chat-shortcode" data-nonce="0a1b2c3d4e" data-post-id="7" '
            b'data-bot-id="0" data-type="shortcode"></div>')

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.streaming = threading.Event()
        self.client_closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn):
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, data = data.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                if head.startswith(b"GET"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                                 + str(len(self.PAGE)).encode() + b"\r\n\r\n" + self.PAGE)
                    continue
                event = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hello "}}]}\n\n'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n"
                             + b"%x\r\n%s\r\n" % (len(event), event))
                self.streaming.set()
                conn.settimeout(30)
                try:
                    while conn.recv(65536):
                        pass
                    self.client_closed.set()  # EOF: the client closed the connection
                except OSError:
                    self.client_closed.set()
                return

    def stop(self):
        self.server.close()


def test_closing_a_stream_closes_the_connection():
    for how in ("close", "with"):
        site = StallingAIPowerSite()
        try:
            client = Client(provider="chatgptt", base_url=site.url, timeout=(5, 30))
            stream = client.chat.completions.create(model="gpt-4o", messages="Hi", stream=True)
            if how == "close":
                assert next(stream).choices[0].delta.content == "Hello "
                assert not site.client_closed.is_set()
                stream.close()
            else:
                with stream:
                    assert next(stream).choices[0].delta.content == "Hello "
                    assert not site.client_closed.is_set()
            assert site.client_closed.wait(10), f"the connection stayed open after {how}"
        finally:
            site.stop()


# -- stream_options={"include_usage": True} --------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_include_usage_adds_a_last_chunk_with_empty_choices(site, provider):
    client = Client(provider=provider, base_url=site.url)
    stream = client.chat.completions.create(model="gpt-4o", messages="Hi there", stream=True,
                                            stream_options={"include_usage": True})
    text, usage, chunks = "", None, []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "Echo: Hi there"
    if provider is Chatgpt4Online:  # AI Engine reports usage: as the OpenAI API sends it
        assert chunks[-1].choices == [] and chunks[-1].usage is usage
        assert (usage.prompt_tokens, usage.total_tokens) == (2, 5)
        assert all(c.usage is None for c in chunks[:-1])
        assert chunks[-2].choices[0].finish_reason == "stop"
    else:  # AI Power reports none: the usage chunk still comes (as the API server sends it), null
        assert usage is None and chunks[-1].choices == [] and chunks[-1].usage is None
        assert chunks[-2].choices[0].finish_reason == "stop"


# -- what the sites cannot do ----------------------------------------------------------------

@pytest.mark.parametrize("parameters, words", [
    ({"response_format": {"type": "json_object"}}, "free text"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
     "free text"),
    ({"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]},
     "cannot call tools"),
    ({"tool_choice": "required"}, "cannot call tools"),
    ({"logprobs": True}, "token probabilities"),
])
def test_what_the_sites_cannot_do_is_a_clear_error(site, parameters, words):
    client = Client(provider="chatgptt", base_url=site.url)
    with pytest.raises(ValueError, match=words) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}],
                                       **parameters)
    assert "unsupported parameters" not in str(caught.value)
    assert chat_requests(site) == []  # refused before any traffic


def test_harmless_values_of_those_parameters_are_accepted(site):
    client = Client(provider="chatgptt", base_url=site.url)
    completion = client.chat.completions.create(
        model="gpt-4o", messages="Hi", response_format={"type": "text"}, tools=[], n=1,
        temperature=0.2, max_tokens=10, seed=1, user="u1")
    assert completion.choices[0].message.content == "Echo: Hi"


# -- per-call timeout= and extra_headers= -------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_per_call_timeout_is_honoured(site, stream):
    client = Client(provider="chatgptt", base_url=site.url, timeout=(10, 60))
    site.inject("stall", seconds=5)
    with pytest.raises(chatgpt_providers.TimeoutError) as caught:
        result = client.chat.completions.create(model="gpt-4o", messages="one two three four five",
                                                stream=stream, timeout=0.5)
        if stream:
            for _ in result:
                pass
    assert "0.5 s" in str(caught.value) and caught.value.phase == "read"
    assert caught.value.partial_text.startswith("Echo: ")
    assert client.provider.transport.timeout == (10.0, 60.0)  # the client's own is unchanged


def test_per_call_extra_headers_are_sent_with_that_call_only(site):
    client = Client(provider="chatgpt4online", base_url=site.url)
    client.chat.completions.create(model="gpt-4o", messages="Hi",
                                   extra_headers={"X-Request-Tag": "call-1"})
    chunks = client.chat.completions.create(model="gpt-4o", messages="Hi", stream=True,
                                            extra_headers={"X-Request-Tag": "call-2"})
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: Hi"
    client.chat.completions.create(model="gpt-4o", messages="Hi")
    tags = [r.headers.get("X-Request-Tag") for r in chat_requests(site)]
    assert tags == ["call-1", "call-2", None]
    with pytest.raises(ValueError, match="no body to extend"):
        client.chat.completions.create(model="gpt-4o", messages="Hi", extra_body={"x": 1})


# -- model_dump_json() and models.list() ---------------------------------------------------

def test_model_dump_json_on_results_and_chunks(site):
    client = Client(provider="chatgpt4online", base_url=site.url)
    completion = client.chat.completions.create(model="gpt-4o", messages="Hi ünï")
    dumped = completion.model_dump_json()
    assert json.loads(dumped) == completion.model_dump()
    assert "ünï" in dumped and dumped.startswith('{"id":"chatcmpl-')  # compact UTF-8, as pydantic
    assert json.loads(completion.model_dump_json(indent=2))["usage"]["total_tokens"] == 5
    for chunk in client.chat.completions.create(model="gpt-4o", messages="Hi", stream=True):
        assert json.loads(chunk.model_dump_json()) == chunk.model_dump()
    assert "role" not in json.loads(chunk.model_dump_json(exclude_none=True))["choices"][0]["delta"]


def test_models_list_shows_the_providers_in_openais_shape(site):
    client = Client(api_key="sk-x")
    page = client.models.list()
    assert [model.id for model in page] == ["Chatgpt4Online", "ChatGptt"]
    assert page.object == "list" and page.data[0].object == "model"
    assert page.data[1].owned_by == "chatgptt.me"
    assert json.loads(page.model_dump_json())["data"][0]["id"] == "Chatgpt4Online"

    local = Client(provider=RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url))
    assert [m.id for m in local.models.list().data] == ["Chatgpt4Online", "ChatGptt"]
    completion = local.chat.completions.create(model="ChatGptt", messages="Hi")  # a listed id
    assert completion.provider == "ChatGptt" and [r.route for r in chat_requests(site)] == ["ajax"]


# -- a RetryProvider labels every chunk with the provider answering -------------------------

def test_every_chunk_through_a_retry_provider_names_the_provider_answering(site):
    blocked = LocalSite().start()
    try:
        blocked.inject("cloudflare", count=50, target="any")
        failover = RetryProvider([ChatGptt(base_url=blocked.url, retries=0),
                                  Chatgpt4Online(base_url=site.url)])
        chunks = list(Client(provider=failover).chat.completions.create(
            model="gpt-4o", messages="one two three four", stream=True))
    finally:
        blocked.stop()
    assert len(chunks) >= 5
    assert {chunk.provider for chunk in chunks} == {"Chatgpt4Online"}
