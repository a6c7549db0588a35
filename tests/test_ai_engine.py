"""AI Engine client against recorded-style answers (docs/protocols/ai-engine.md)."""

import html
import json

import pytest
import responses
from conftest import BASE, engine_end, split_body, sse

from chatgpt_providers import (
    AIEngine,
    AuthenticationError,
    BlockedError,
    Chatgpt4Online,
    NonceError,
    RateLimitError,
    RejectedError,
    ResponseError,
    ServerError,
    StreamInterruptedError,
)

SESSION = f"{BASE}/wp-json/mwai/v1/start_session"
SUBMIT = f"{BASE}/wp-json/mwai-ui/v1/chats/submit"
NONCE = "a1b2c3d4e5"
STREAM = sse({"type": "live", "data": "Hel"}, {"type": "live", "data": "lo!"}, engine_end("Hello!"))


def start_session(rsps, nonce=NONCE, session="6745f0c2a1b3e"):
    rsps.post(SESSION, json={"success": True, "sessionId": session, "restNonce": nonce},
              headers={"Set-Cookie": "mwai_session_id=abc; Path=/"})


def answer(rsps, body=STREAM, status=200, content_type="text/event-stream;charset=UTF-8", **kw):
    rsps.post(SUBMIT, body=body, status=status, content_type=content_type, **kw)


def bot(**options):
    """Retries off: these tests check how each answer maps to an error (retries: test_reliability)."""
    return AIEngine(BASE, bot_id="default", retries=0, **options)


def test_stream_yields_live_deltas_then_nothing_more(rsps):
    start_session(rsps)
    answer(rsps)
    assert list(bot().stream("Hi")) == ["Hel", "lo!"]


def test_request_body_and_headers_follow_the_browser_client(rsps):
    start_session(rsps)
    answer(rsps)
    client = bot()
    client.complete([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ])
    session_call, submit_call = rsps.calls
    assert session_call.request.method == "POST"
    sent = submit_call.request
    assert sent.headers["X-WP-Nonce"] == NONCE
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "text/event-stream"
    assert "mwai_session_id=abc" in sent.headers["Cookie"]
    body = json.loads(sent.body)
    assert body["botId"] == "default"
    assert body["session"] == "6745f0c2a1b3e"
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello!"}]
    assert body["newMessage"] == "Be brief.\n\nHow are you?"
    assert body["newFileId"] is None
    assert body["chatId"]


def test_chat_id_is_stable_per_conversation_and_differs_between_them(rsps):
    start_session(rsps)
    for _ in range(3):
        answer(rsps)
    client = bot()
    client.complete("First question")
    client.complete([{"role": "user", "content": "First question"},
                     {"role": "assistant", "content": "Hello!"},
                     {"role": "user", "content": "Second"}])
    client.complete("Another conversation")
    ids = [json.loads(c.request.body)["chatId"] for c in rsps.calls[1:]]
    assert ids[0] == ids[1] != ids[2]


def test_one_start_session_for_ten_messages(rsps):
    start_session(rsps)
    for _ in range(10):
        answer(rsps)
    client = bot()
    for _ in range(10):
        assert client.complete("Hi") == "Hello!"
    assert [c.request.url for c in rsps.calls].count(SESSION) == 1
    assert len(rsps.calls) == 11


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_awkward_byte_boundaries(rsps, newline, step):
    """Cuts inside a UTF-8 character, inside \\r\\n, inside the JSON: same text."""
    body = sse({"type": "live", "data": "Привет "}, {"type": "live", "data": "🙂 мир"},
               engine_end("Привет 🙂 мир"), newline=newline)
    start_session(rsps)
    answer(rsps, body=split_body(body, range(step, len(body), step)))
    assert "".join(bot().stream("Hi")) == "Привет 🙂 мир"


def test_end_completes_a_reply_the_live_events_left_short(rsps):
    start_session(rsps)
    answer(rsps, body=sse({"type": "live", "data": "Hel"}, engine_end("Hello there")))
    assert list(bot().stream("Hi")) == ["Hel", "lo there"]


def test_end_alone_gives_the_reply(rsps):
    start_session(rsps)
    answer(rsps, body=sse(engine_end("Only the end")))
    assert list(bot().stream("Hi")) == ["Only the end"]


def test_final_reply_wins_in_complete_when_a_filter_changed_it(rsps):
    start_session(rsps)
    answer(rsps, body=sse({"type": "live", "data": "damn good"}, engine_end("**** good")))
    answer(rsps, body=sse({"type": "live", "data": "damn good"}, engine_end("**** good")))
    client = bot()
    assert list(client.stream("Hi")) == ["damn good"]
    assert client.complete("Hi") == "**** good"


def test_subtypes_other_than_content_are_not_answer_text(rsps):
    start_session(rsps)
    answer(rsps, body=sse(
        {"type": "live", "subtype": "start", "data": "starting"},
        {"type": "live", "subtype": "thinking", "data": "hmm"},
        {"type": "live", "subtype": "content", "data": "An", "visibility": "visible"},
        {"type": "live", "subtype": "tool_call", "data": "search()"},
        {"type": "live", "subtype": "heartbeat", "data": ""},
        {"type": "live", "subtype": "content", "data": "swer"},
        engine_end("Answer"),
    ))
    assert list(bot().stream("Hi")) == ["An", "swer"]


def test_reply_carries_usage_and_chat_id(rsps):
    start_session(rsps)
    answer(rsps, body=sse({"type": "live", "data": "Hi"}, engine_end("Hi", chatId="srv-chat")))
    reply = bot().reply("Hi")
    assert reply.text == "Hi"
    assert reply.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert reply.chat_id == "srv-chat"


def test_new_token_replaces_the_cached_nonce(rsps):
    start_session(rsps)
    answer(rsps, body=sse(engine_end("one", new_token="ffffffffff")))
    answer(rsps)
    client = bot()
    client.complete("Hi")
    client.complete("Hi")
    assert rsps.calls[2].request.headers["X-WP-Nonce"] == "ffffffffff"
    assert len(rsps.calls) == 3


def test_json_answer_to_a_streaming_request(rsps):
    start_session(rsps)
    answer(rsps, body=json.dumps({"success": True, "reply": "Taken over", "new_token": "0000000001"}),
           content_type="application/json")
    answer(rsps)
    client = bot()
    assert list(client.stream("Hi")) == ["Taken over"]
    client.complete("again")
    assert rsps.calls[2].request.headers["X-WP-Nonce"] == "0000000001"


def test_error_event_raises_server_error_keeping_partial_text(rsps):
    start_session(rsps)
    answer(rsps, body=sse({"type": "live", "data": "Half an "},
                          {"type": "error", "data": "Oops! Something went wrong on the server."}))
    got = []
    with pytest.raises(ServerError, match="Oops! Something went wrong") as info:
        for text in bot().stream("Hi"):
            got.append(text)
    assert got == ["Half an "]
    assert info.value.partial_text == "Half an "
    assert info.value.provider == "AIEngine"


def test_stream_without_end_is_interrupted_keeping_partial_text(rsps):
    start_session(rsps)
    answer(rsps, body=sse({"type": "live", "data": "Half"}) + b'data: {"type":"live","da')
    with pytest.raises(StreamInterruptedError) as info:
        list(bot().stream("Hi"))
    assert info.value.partial_text == "Half"


@pytest.mark.parametrize("status, code", [(403, "rest_cookie_invalid_nonce"), (401, "rest_forbidden")])
def test_refused_nonce_is_refreshed_once(rsps, status, code):
    start_session(rsps, nonce="1111111111")
    start_session(rsps, nonce="2222222222")
    answer(rsps, status=status, content_type="application/json",
           body=json.dumps({"code": code, "message": "Cookie check failed", "data": {"status": status}}))
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    nonces = [c.request.headers.get("X-WP-Nonce") for c in rsps.calls if c.request.url == SUBMIT]
    assert nonces == ["1111111111", "2222222222"]


def test_nonce_refused_twice_is_an_authentication_error(rsps):
    refused = json.dumps({"code": "rest_cookie_invalid_nonce", "message": "Cookie check failed",
                          "data": {"status": 403}})
    start_session(rsps)
    start_session(rsps)
    answer(rsps, status=403, content_type="application/json", body=refused)
    answer(rsps, status=403, content_type="application/json", body=refused)
    with pytest.raises(AuthenticationError) as info:
        bot().complete("Hi")
    assert info.value.status_code == 403
    assert NONCE not in str(info.value)
    assert len(rsps.calls) == 4


def test_rejected_query(rsps):
    start_session(rsps)
    answer(rsps, status=403, content_type="application/json",
           body=json.dumps({"success": False, "message": "Sorry, your query has been rejected."}))
    with pytest.raises(RejectedError, match="rejected") as info:
        bot().complete("Hi")
    assert info.value.status_code == 403
    assert len(rsps.calls) == 2  # a refusal is not retried


def test_engine_failure_500(rsps):
    start_session(rsps)
    answer(rsps, status=500, content_type="application/json",
           body=json.dumps({"success": False, "message": "Error while calling OpenAI"}))
    with pytest.raises(ServerError, match="Error while calling OpenAI"):
        bot().complete("Hi")


def test_rate_limit_with_retry_after(rsps):
    start_session(rsps)
    answer(rsps, status=429, content_type="text/html", body="<h1>Too many</h1>",
           headers={"Retry-After": "30"})
    with pytest.raises(RateLimitError) as info:
        bot().complete("Hi")
    assert info.value.retry_after == 30.0
    assert "30" in str(info.value)


def test_cloudflare_challenge_is_blocked(rsps):
    rsps.post(SESSION, status=403, content_type="text/html",
              body="<html><head><title>Just a moment...</title></head></html>",
              headers={"cf-mitigated": "challenge"})
    with pytest.raises(BlockedError, match="Cloudflare"):
        bot().complete("Hi")


@pytest.mark.parametrize("status", [502, 503])
def test_html_5xx_is_a_server_error(rsps, status):
    start_session(rsps)
    answer(rsps, status=status, content_type="text/html", body="<h1>Bad gateway</h1>")
    with pytest.raises(ServerError) as info:
        bot().complete("Hi")
    assert info.value.status_code == status
    assert "Bad gateway" in info.value.body


def test_html_where_a_stream_was_due_is_a_response_error(rsps):
    start_session(rsps)
    answer(rsps, content_type="text/html", body="<html>maintenance</html>")
    with pytest.raises(ResponseError, match="text/html"):
        bot().complete("Hi")


def test_start_session_failure_is_a_nonce_error(rsps):
    rsps.post(SESSION, status=500, json={"success": False, "message": "Sessions are disabled"})
    with pytest.raises(NonceError, match="Unable to extract restNonce .*Sessions are disabled"):
        bot().complete("Hi")


def page_with(system, extra=""):
    data = html.escape(json.dumps(system), quote=True)
    return (f"<html><body>{extra}<div class='mwai-chatbot-container' data-params='{{}}' "
            f"data-system='{data}'></div></body></html>")


def test_settings_come_from_the_page_when_no_bot_id_is_given(rsps):
    rsps.get(f"{BASE}/", body=page_with({"botId": "chatbot-7x", "customId": "c-1", "contextId": 58,
                                         "restNonce": None, "sessionId": None,
                                         "restUrl": f"{BASE}/index.php?rest_route="}))
    rest = f"{BASE}/index.php?rest_route=/mwai"
    rsps.post(f"{rest}/v1/start_session", json={"success": True, "sessionId": "s", "restNonce": NONCE})
    rsps.post(f"{rest}-ui/v1/chats/submit", body=STREAM, content_type="text/event-stream")
    assert AIEngine(BASE).complete("Hi") == "Hello!"
    body = json.loads(rsps.calls[2].request.body)
    assert (body["botId"], body["customId"], body["contextId"]) == ("chatbot-7x", "c-1", 58)
    assert rsps.calls[2].request.url == f"{rest}-ui/v1/chats/submit"


def test_missing_route_falls_back_to_the_page_nonce(rsps):
    rsps.post(SESSION, status=404, json={"code": "rest_no_route"})
    rsps.get(f"{BASE}/", body=page_with({"botId": "default", "restNonce": "0123456789",
                                         "restUrl": f"{BASE}/wp-json"}))
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    assert rsps.calls[2].request.headers["X-WP-Nonce"] == "0123456789"


def test_old_inline_script_settings(rsps):
    rsps.post(SESSION, status=404, body="<html>404</html>", content_type="text/html")
    rsps.get(f"{BASE}/", body="<script>var mwai = {&quot;restNonce&quot;:&quot;9876543210&quot;,"
                              "&quot;restUrl&quot;:&quot;https:\\/\\/site.example\\/wp-json&quot;};</script>")
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    assert rsps.calls[2].request.headers["X-WP-Nonce"] == "9876543210"


def test_no_route_and_no_page_nonce_says_what_was_looked_for(rsps):
    rsps.post(SESSION, status=404, json={"code": "rest_no_route"})
    rsps.get(f"{BASE}/", body="<html><body>a blog</body></html>")
    with pytest.raises(NonceError, match="Unable to extract a nonce from .*start_session.*data-system"):
        bot().complete("Hi")


@pytest.mark.parametrize("status", [405, 501])
def test_a_server_without_the_route_says_ai_engine_seems_missing(rsps, status):
    """Servers answer an unknown start_session with 405 or 501 as well as 404: not 'having trouble'."""
    rsps.post(SESSION, status=status, body="<html>Not Implemented</html>", content_type="text/html")
    rsps.get(f"{BASE}/", body="<html><body>a blog</body></html>")
    with pytest.raises(NonceError, match="AI Engine plugin does not seem to be installed") as info:
        bot().complete("Hi")
    assert "trouble" not in str(info.value)


def test_bad_messages_raise_before_any_request(rsps):
    client = bot()
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        client.stream([{"role": "robot", "content": "x"}])
    with pytest.raises(ValueError):
        client.complete([])
    with pytest.raises(ValueError):
        Chatgpt4Online.create_completion("gpt-4", [{"role": "assistant", "content": "x"}])
    assert len(rsps.calls) == 0


def test_early_break_closes_the_response(rsps):
    start_session(rsps)
    answer(rsps)
    stream = bot().stream("Hi")
    assert next(stream) == "Hel"
    stream.close()
    response = rsps.calls[1].response
    assert response.raw.closed


def test_preset_and_create_completion(rsps):
    rsps.post("https://chatgpt4online.org/wp-json/mwai/v1/start_session",
              json={"success": True, "sessionId": "s", "restNonce": NONCE})
    rsps.post("https://chatgpt4online.org/wp-json/mwai-ui/v1/chats/submit", body=STREAM,
              content_type="text/event-stream")
    rsps.post("https://chatgpt4online.org/wp-json/mwai/v1/start_session",
              json={"success": True, "sessionId": "s", "restNonce": NONCE})
    rsps.post("https://chatgpt4online.org/wp-json/mwai-ui/v1/chats/submit", body=STREAM,
              content_type="text/event-stream")
    messages = [{"role": "user", "content": "Hi"}]
    assert list(Chatgpt4Online.create_completion("gpt-4", messages, stream=True)) == ["Hel", "lo!"]
    assert list(Chatgpt4Online.create_completion("anything", messages, stream=False)) == ["Hello!"]
    assert json.loads(rsps.calls[1].request.body)["botId"] == "default"


def test_class_attributes_gpt4free_expects():
    assert Chatgpt4Online.url == "https://chatgpt4online.org"
    assert Chatgpt4Online.default_model in Chatgpt4Online.models
    assert Chatgpt4Online.supports_stream and Chatgpt4Online.supports_message_history
    assert Chatgpt4Online.supports_system_message
    assert Chatgpt4Online(base_url="http://127.0.0.1:9").url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="base_url"):
        AIEngine()
    with pytest.raises(ValueError, match="http"):
        AIEngine("ftp://site")


def test_no_request_ever_leaves_for_unregistered_urls():
    with responses.RequestsMock() as mock:
        mock.post(SESSION, json={"success": True, "sessionId": "s", "restNonce": NONCE})
        mock.post(SUBMIT, body=STREAM, content_type="text/event-stream")
        assert bot().complete("Hi") == "Hello!"
