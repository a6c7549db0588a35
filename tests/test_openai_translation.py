"""Issue 18/19: one OpenAI translation. The Python ``Client`` and the API server (driven with the
official ``openai`` client) accept the same requests, refuse the same ones with the same words,
and honour ``stop`` the same way (issue 16 point 7)."""

import json

import openai
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from chatgpt_providers import Client
from chatgpt_providers.interfaces.openai_translation import StopCut
from chatgpt_providers.interfaces.server import APIServer, create_app
from chatgpt_providers.testing import make_reply


@pytest.fixture
def both(site):
    """(create(**request) through the Client, the same through the API server)."""
    server = APIServer(create_app(base_url=site.url, retries=0), port=0, threads=4).start()
    client = Client(provider="chatgptt", base_url=site.url, max_retries=0)
    remote = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=30)

    def local(**request):
        return client.chat.completions.create(model="chatgptt", **request)

    def served(**request):
        return remote.chat.completions.create(model="chatgptt", **request)

    yield local, served, server.url
    remote.close()
    client.close()
    server.close()


def text_of(result, stream):
    if not stream:
        return result.choices[0].message.content, result.choices[0].finish_reason
    chunks = list(result)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), finish[-1]


ACCEPTED = [
    ({"messages": [{"role": "user", "content": "Hi there"}]}, "Echo: Hi there"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                {"type": "text", "text": "there"}]}]},
     "Echo: Hi\nthere"),
    ({"messages": [{"role": "developer", "content": "Be brief."},
                   {"role": "user", "content": "Hi"}]}, "Echo: Be brief.\n\nHi"),
    ({"messages": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                   {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": [{"type": "text", "text": "Echo: Hi"}]},
                   {"role": "user", "content": "More"}]},
     make_reply("Be brief.\n\nMore", ["Hi", "Echo: Hi"])),
    ({"messages": [{"role": "user", "content": "Hi there"}], "temperature": 0.1, "seed": 3,
      "tool_choice": "none", "response_format": {"type": "text"}, "user": "u1", "n": 1},
     "Echo: Hi there"),
    ({"messages": [{"role": "user", "content": "Hi there"}], "stop": ["there"]}, "Echo: Hi "),
    ({"messages": [{"role": "user", "content": "one two three"}], "stop": "two"}, "Echo: one "),
    ({"messages": [{"role": "user", "content": "one two three"}], "stop": ["o t", "zzz"]},
     "Echo: one tw"),  # "o t" spans two deltas ("two ", "three")
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("request_, expected", ACCEPTED)
def test_client_and_server_give_the_same_answer_to_the_same_request(both, request_, expected, stream):
    local, served, _ = both
    assert text_of(local(stream=stream, **request_), stream) == (expected, "stop")
    assert text_of(served(stream=stream, **request_), stream) == (expected, "stop")


REFUSED = [
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"stop": [1, 2]}, "stop"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "Hi \ud800 there"}]}, "messages[0].content"),
    ({"messages": [{"role": "bot", "content": "Hi"}]}, "messages"),
]


@pytest.mark.parametrize("request_, param", REFUSED)
def test_client_and_server_refuse_the_same_requests_with_the_same_words(site, both, request_, param):
    local, _, url = both
    body = {"messages": [{"role": "user", "content": "Hi"}], **request_}
    with pytest.raises(ValueError) as raised:
        local(**body)
    # The official client cannot even encode a lone surrogate, so the body goes as raw JSON.
    data = json.dumps({"model": "chatgptt", **body}).encode()
    answer = requests.post(url + "/v1/chat/completions", data=data, timeout=30,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"] == str(raised.value)
    assert [r for r in site.requests if r.route in ("submit", "ajax")] == []


def test_a_stream_holds_back_only_what_could_start_a_stop_sequence(both, site):
    local, served, _ = both
    site.delay = 0.001
    for create in (local, served):
        chunks = [c.choices[0].delta.content for c in create(
            messages=[{"role": "user", "content": "alpha beta gamma"}], stream=True,
            stop=["gamma", "beta!"]) if c.choices and c.choices[0].delta.content]
        # "beta" could start "beta!": held until " " shows it does not; "gamma" ends the text.
        assert "".join(chunks) == "Echo: alpha beta "
        assert "Echo: " in chunks and "alpha " in chunks


@given(st.text("ab!", max_size=30), st.lists(st.integers(0, 30), max_size=6),
       st.lists(st.text("ab!", min_size=1, max_size=4), min_size=1, max_size=3))
def test_stop_cut_matches_cutting_the_whole_text(text, cuts, stops):
    points = [0, *sorted(c for c in set(cuts) if 0 < c < len(text)), len(text)]
    cut = StopCut(stops)
    shown = []
    longest = max(len(s) for s in stops)
    for a, b in zip(points, points[1:]):
        shown.append(cut.feed(text[a:b]))
        if cut.stopped:
            break
        assert len(cut.held) < longest or any(s in cut.held for s in stops)
    shown.append(cut.finish())
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    assert "".join(shown) == (text[:min(found)] if found else text)
    assert cut.stopped == bool(found)
