"""AI Power client against recorded-style answers (docs/protocols/ai-power.md)."""

import json
from urllib.parse import parse_qs

import pytest
from conftest import BASE, split_body, sse

from chatgpt_providers import (
    AIPower,
    AuthenticationError,
    BlockedError,
    ChatGptt,
    NonceError,
    RateLimitError,
    RejectedError,
    ResponseError,
    ServerError,
    StreamInterruptedError,
    UnsupportedSiteError,
)

AJAX = f"{BASE}/wp-admin/admin-ajax.php"
NONCE = "3f2a1b0c9d"
SHORTCODE = (f'<div class="wpaicg-chat-shortcode" data-url="{BASE}/chat/" data-nonce="{NONCE}" '
             'data-post-id="58" data-bot-id="0" data-type="shortcode" data-openai_stream_nav="1">'
             '</div>')
PAGE = f"<html><body><h1>Chat</h1>{SHORTCODE}</body></html>"


def chunk(text, **extra):
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice], **extra}


STREAM = sse(chunk("Hel"), chunk("lo!"),
             {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
             "[DONE]")


def page(rsps, body=PAGE, url=f"{BASE}/chat/"):
    rsps.get(url, body=body, content_type="text/html; charset=UTF-8")


def answer(rsps, body=STREAM, status=200, content_type="text/event-stream", **kw):
    rsps.post(AJAX, body=body, status=status, content_type=content_type, **kw)


def answer_json(rsps, data, status=200):
    answer(rsps, body=json.dumps(data), status=status, content_type="application/json")


def form(call):
    body = call.request.body
    body = body.decode("ascii") if isinstance(body, bytes) else body
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def bot(**options):
    """Retries off: these tests check how each answer maps to an error (retries: test_reliability)."""
    return AIPower(BASE, page="/chat/", retries=0, **options)


def test_stream_of_openai_chunks(rsps):
    page(rsps)
    answer(rsps)
    assert list(bot().stream("Hi")) == ["Hel", "lo!"]


def test_form_fields_sent(rsps):
    page(rsps)
    answer(rsps)
    answer(rsps)
    client = bot()
    client.complete("Hi")
    client.complete([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "More"}])
    first, second = form(rsps.calls[1]), form(rsps.calls[2])
    assert rsps.calls[1].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert first["_wpnonce"] == NONCE
    assert first["action"] == "wpaicg_chat_shortcode_message"
    assert first["message"] == "Hi"
    assert first["post_id"] == "58"
    assert first["url"] == f"{BASE}/chat/"
    assert first["bot_id"] == "0"
    assert first["chatbot_identity"] == "shortcode"
    assert len(first["wpaicg_chat_client_id"]) == 10 and first["wpaicg_chat_client_id"].isalnum()
    assert first["wpaicg_chat_client_id"] == second["wpaicg_chat_client_id"]
    assert json.loads(first["wpaicg_chat_history"]) == []
    assert first["chat_id"].isdigit()
    assert second["message"] == "Be brief.\n\nMore"
    history = json.loads(second["wpaicg_chat_history"])
    assert [h["text"] for h in history] == ["Human: Hi", "AI: Hello!"]
    assert len(rsps.calls) == 3  # the page once, then one request per message


def test_history_survives_the_servers_backslash_stripping(rsps):
    page(rsps)
    answer(rsps)
    bot().complete([{"role": "user", "content": 'Say "hi"\nand \\o/ ünï 🙂'},
                    {"role": "assistant", "content": "hi\tthere"},
                    {"role": "user", "content": "again"}])
    raw = form(rsps.calls[1])["wpaicg_chat_history"]
    assert "\\" not in raw
    texts = [h["text"] for h in json.loads(raw.replace("\\", ""))]
    assert texts == ["Human: Say ”hi” and /o/ ünï 🙂", "AI: hi there"]


def test_custom_bot_identity_from_the_page(rsps):
    page(rsps, body=PAGE.replace('data-bot-id="0"', 'data-bot-id="4"'))
    answer(rsps)
    bot().complete("Hi")
    sent = form(rsps.calls[1])
    assert (sent["bot_id"], sent["chatbot_identity"]) == ("4", "custom_bot_4")


def test_widget_container_uses_the_widget_action(rsps):
    widget = (f"<div class='wpaicg-chatbox' data-type='widget' data-nonce='{NONCE}' data-post-id='' "
              f"data-bot-id='0' data-url='{BASE}/'></div>")
    page(rsps, body=f"<html>{widget}</html>")
    answer(rsps)
    bot().complete("Hi")
    sent = form(rsps.calls[1])
    assert (sent["action"], sent["chatbot_identity"], sent["post_id"]) == (
        "wpaicg_chatbox_message", "widget", "")


@pytest.mark.parametrize("container, post_id", [
    # attribute order, single quotes, spaces around '=', entities, a stray '<' (1.9.16-1.9.18)
    (f"<div data-nonce = '{NONCE}' data-post-id= \"&lt;123\" class = 'wpaicg-chat-shortcode x' "
     "data-bot-id='0'>", "123"),
    (f"<div\n  class=\"wpaicg-chat-shortcode\"\n  data-post-id=\"<77\"\n  data-nonce=\"{NONCE}\">", "77"),
    (f"<div class=wpaicg-chat-shortcode data-nonce={NONCE} data-post-id=\"\">", ""),
])
def test_tolerant_page_scraping(rsps, container, post_id):
    page(rsps, body=f"<html><p>text</p>{container}</div></html>")
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    sent = form(rsps.calls[1])
    assert (sent["_wpnonce"], sent["post_id"]) == (NONCE, post_id)


def test_several_containers_prefer_the_shortcode_or_the_bot_asked_for(rsps):
    widget = (f'<div class="wpaicg-chatbox" data-type="widget" data-nonce="{NONCE}" '
              'data-bot-id="9" data-post-id="1"></div>')
    body = f"<html>{widget}{SHORTCODE}</html>"
    page(rsps, body=body)
    page(rsps, body=body)
    answer(rsps)
    answer(rsps)
    bot().complete("Hi")
    bot(bot_id=9).complete("Hi")
    assert form(rsps.calls[1])["chatbot_identity"] == "shortcode"
    assert form(rsps.calls[3])["chatbot_identity"] == "custom_bot_9"


def test_wpaicg_params_fallback(rsps):
    script = ('<script>var wpaicgParams = {"ajax_url":"https:\\/\\/site.example\\/wp-admin\\/'
              f'admin-ajax.php","search_nonce":"{NONCE}"}};</script>')
    page(rsps, body=f"<html>{script}</html>")
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    assert form(rsps.calls[1])["_wpnonce"] == NONCE


def test_foreign_ajax_url_in_the_page_is_not_trusted(rsps):
    script = ('<script>var wpaicgParams = {"ajax_url":"https:\\/\\/evil.example\\/x.php",'
              f'"search_nonce":"{NONCE}"}};</script>')
    page(rsps, body=f"<html>{script}</html>")
    answer(rsps)
    bot().complete("Hi")
    assert rsps.calls[1].request.url == AJAX


def test_page_without_a_chatbot_says_what_was_looked_for(rsps):
    page(rsps, body="<html><div class='wpaicg-chat-shortcode-messages'></div></html>")
    with pytest.raises(NonceError, match=r"Unable to extract the AI Power nonce .*data-nonce.*"
                                         r"search_nonce.* from https://site.example/chat/"):
        bot().complete("Hi")


def test_cloudflare_on_the_page_is_blocked(rsps):
    rsps.get(f"{BASE}/chat/", status=503, content_type="text/html",
             body="<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>")
    with pytest.raises(BlockedError):
        bot().complete("Hi")


@pytest.mark.parametrize("split", [1, 3, 5])
def test_awkward_byte_boundaries(rsps, split):
    body = sse(chunk("Привет "), chunk("🙂"), "[DONE]", newline="\r\n")
    page(rsps)
    answer(rsps, body=split_body(body, range(split, len(body), split)))
    assert "".join(bot().stream("Hi")) == "Привет 🙂"


def test_legacy_completion_text_and_event_lines(rsps):
    body = (b"event: message\n" + sse({"id": "c", "choices": [{"index": 0, "text": "Legacy "}]})
            + b"event: message\n" + sse({"id": "c", "choices": [{"index": 0, "text": "text"}]})
            + sse("[DONE]"))
    page(rsps)
    answer(rsps, body=body)
    assert list(bot().stream("Hi")) == ["Legacy ", "text"]


def test_json_success(rsps):
    page(rsps)
    # as PHP's json_encode writes it: \/ and \uXXXX escapes
    answer(rsps, content_type="application/json",
           body=r'{"status":"success","msg":"Something went wrong","greeting_message":"You are '
                r'helpful.","data":"Hi \u00e9\/","log":"12"}')
    assert bot().complete("Hi") == "Hi é/"


@pytest.mark.parametrize("data, error, words", [
    ({"status": "error", "msg": "It appears that nothing was inputted."}, RejectedError, "nothing"),
    ({"status": "error", "msg": "Your message contains prohibited words. Please modify."},
     RejectedError, "prohibited"),
    ({"status": "error", "msg": "You are not allowed to access this feature."}, BlockedError, "IP"),
    ({"status": "error", "msg": "Unable to initialize the AI instance."}, ServerError, "initialize"),
    ({"msg": "You have reached your token limit.", "tokenLimitReached": True}, RateLimitError, "quota"),
])
def test_json_errors(rsps, data, error, words):
    page(rsps)
    answer_json(rsps, data)
    with pytest.raises(error, match=words) as info:
        bot().complete("Hi")
    assert len(rsps.calls) == 2  # refusals are not retried
    if error is RateLimitError:
        assert info.value.retry_after is None


@pytest.mark.parametrize("flag, error", [
    ({"msg": "You have reached your token limit.", "tokenLimitReached": True}, RateLimitError),
    ({"msg": "You are not allowed to access this feature.", "ipBanned": True}, BlockedError),
    ({"msg": "Your message contains prohibited words.", "messageFlagged": True}, RejectedError),
    ({"msg": "Flagged by moderation.", "status": "error", "modflag": True}, RejectedError),
    ({"msg": "Pinecone failed.", "pineconeError": True}, ServerError),
])
def test_stream_flags_stop_the_stream(rsps, flag, error):
    page(rsps)
    answer(rsps, body=sse(flag, chunk("ignored"), "[DONE]"))
    got = []
    with pytest.raises(error):
        for text in bot().stream("Hi"):
            got.append(text)
    assert got == []


def error_words(text, ending):
    lines = []
    for index, word in enumerate(text.split(" ")):
        content = word if index == 0 else " " + word
        lines.append('event: message\ndata: {"choices":[{"delta":{"content":"' + content + '"}}]}\n\n')
    return ("".join(lines) + ending).encode()


def test_upstream_error_words_become_a_server_error(rsps):
    page(rsps)
    answer(rsps, body=error_words('Incorrect API key provided: "sk-abc".',
                                  'data: {"choices":[{"finish_reason":"stop"}]}\n\n'))
    got = []
    with pytest.raises(ServerError, match='Incorrect API key provided: "sk-abc"') as info:
        for text in bot().stream("Hi"):
            got.append(text)
    assert got == []  # the error text is not passed off as an answer
    assert info.value.partial_text == ""


def test_limited_after_error_words(rsps):
    page(rsps)
    answer(rsps, body=error_words("Rate limit reached", "data: [LIMITED]\n\n"))
    with pytest.raises(ServerError, match="Rate limit reached"):
        bot().complete("Hi")


def test_unindexed_chunks_that_end_in_done_are_an_answer(rsps):
    page(rsps)
    answer(rsps, body=error_words("A proxy stripped", "data: [DONE]\n\n"))
    assert bot().complete("Hi") == "A proxy stripped"


def test_stream_cut_before_done_is_interrupted_with_partial_text(rsps):
    page(rsps)
    answer(rsps, body=sse(chunk("Half "), chunk("way")))
    with pytest.raises(StreamInterruptedError) as info:
        list(bot().stream("Hi"))
    assert info.value.partial_text == "Half way"


def test_invalid_json_lines_among_answer_chunks_are_skipped(rsps):
    page(rsps)
    answer(rsps, body=sse(chunk("A"), "{broken", chunk("B"), "[DONE]"))
    assert bot().complete("Hi") == "AB"


@pytest.mark.parametrize("refusal", [
    dict(status=403, content_type="text/html",
         body='The link you followed has expired.</p><p><a href="/">Please try again.</a>'),
    dict(status=200, content_type="application/json",
         body=json.dumps({"status": "error", "msg": "Nonce verification failed"})),
])
def test_nonce_failure_refetches_the_page_once(rsps, refusal):
    page(rsps)
    page(rsps, body=PAGE.replace(NONCE, "0000000002"))
    rsps.post(AJAX, **refusal)
    answer(rsps)
    assert bot().complete("Hi") == "Hello!"
    nonces = [form(c)["_wpnonce"] for c in rsps.calls if c.request.method == "POST"]
    assert nonces == [NONCE, "0000000002"]


def test_nonce_refused_twice_is_an_authentication_error(rsps):
    page(rsps)
    page(rsps)
    expired = dict(status=403, content_type="text/html", body="The link you followed has expired.")
    rsps.post(AJAX, **expired)
    rsps.post(AJAX, **expired)
    with pytest.raises(AuthenticationError) as info:
        bot().complete("Hi")
    assert NONCE not in str(info.value) and NONCE not in info.value.body
    assert len(rsps.calls) == 4


def test_400_zero_means_no_supported_plugin(rsps):
    page(rsps)
    answer(rsps, status=400, content_type="text/html", body="0")
    with pytest.raises(UnsupportedSiteError, match="2.3"):
        bot().complete("Hi")


def test_html_where_an_answer_was_due(rsps):
    page(rsps)
    answer(rsps, content_type="text/html", body="<html>not json</html>")
    with pytest.raises(ResponseError, match="AI Power site"):
        bot().complete("Hi")


def test_json_body_with_a_wrong_content_type_is_recognised(rsps):
    page(rsps)
    answer(rsps, content_type="text/html",
           body=json.dumps({"status": "success", "data": "Still fine"}))
    assert bot().complete("Hi") == "Still fine"


def test_preset(rsps):
    rsps.get("https://chatgptt.me/", body=PAGE.replace(BASE, "https://chatgptt.me"))
    rsps.post("https://chatgptt.me/wp-admin/admin-ajax.php", body=STREAM,
              content_type="text/event-stream")
    messages = [{"role": "user", "content": "Hi"}]
    assert list(ChatGptt.create_completion("gpt-4o", messages, stream=True, proxy=None)) == ["Hel", "lo!"]
    assert ChatGptt.url == "https://chatgptt.me"
    assert ChatGptt.default_model in ChatGptt.models


def test_success_without_an_answer_is_a_response_error(rsps):
    page(rsps)
    answer_json(rsps, {"status": "success", "msg": "Something went wrong", "data": None})
    page(rsps)
    answer_json(rsps, {"status": "success", "data": 4})
    with pytest.raises(ResponseError, match="success without an answer"):
        bot().complete("Hi")
    assert bot().complete("2+2?") == "4"
