"""AI Power 2.3+ ("AIPKit"): the AIPKit client, AIPower/ChatGptt on upgraded sites, detection,
and everything built on stream(), over real sockets against the stand-in (request bodies and
query strings checked), plus raw-socket servers for what the stand-in would never do."""

import re
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from rawserver import LAST_CHUNK, Connection, RawServer, Request, chunk, json_response, response, stream_head

import chatgpt_providers
from chatgpt_providers import (
    AIPKit,
    AIPower,
    BlockedError,
    ChatGptt,
    NonceError,
    RateLimitError,
    RejectedError,
    ResponseError,
    RetryProvider,
    ServerError,
    StreamInterruptedError,
    UnsupportedSiteError,
    connect,
    detect,
)
from chatgpt_providers.core.results import Reply
from chatgpt_providers.protocols.aipkit import aipkit_version, find_aipkit_bots
from chatgpt_providers.testing import LocalSite


@pytest.fixture
def kit():
    with LocalSite(delay=0.001, plugins=("aipkit",)) as stand_in:
        yield stand_in


def streams(site):
    return [r for r in site.requests if r.route == "aipkit_stream"]


def caches(site):
    return [r for r in site.requests if r.route == "aipkit_cache"]


def query(record):
    return {k: v[-1] for k, v in record.query.items()}


def user_turns_in_a_row(messages):
    roles = [m["role"] for m in messages]
    return any(a == b == "user" for a, b in zip(roles, roles[1:]))


# -- the page ----------------------------------------------------------------------------

REAL_CONTAINER = (
    '<div class="aipkit_chat_container  aipkit-theme-custom" id="aipkit_chat_container_5" '
    'data-bot-id="5" data-config=\'{&quot;botId&quot;:5,&quot;ajaxUrl&quot;:&quot;https:\\/\\/'
    'site.example\\/wp-admin\\/admin-ajax.php&quot;,&quot;nonce&quot;:&quot;054d4dd8dd&quot;,'
    '&quot;postId&quot;:7,&quot;text&quot;:{&quot;q&quot;:&quot;\\u0022hi\\u0022 \\u003Cb\\u003E'
    '&quot;}}\'></div>')


def test_a_real_container_is_read_as_the_plugin_prints_it():
    bots = find_aipkit_bots(REAL_CONTAINER)
    assert [b["bot_id"] for b in bots] == ["5"]
    assert bots[0]["config"]["nonce"] == "054d4dd8dd"
    assert bots[0]["config"]["ajaxUrl"] == "https://site.example/wp-admin/admin-ajax.php"
    assert bots[0]["config"]["text"]["q"] == '"hi" <b>'


def test_popup_wrapper_and_data_bot_id_winning_over_config():
    page = ('<div class="aipkit_popup_wrapper aipkit_popup_position-bottom-right" data-bot-id="8" '
            'data-config=\'{&quot;botId&quot;:5,&quot;nonce&quot;:&quot;0a1b2c3d4e&quot;}\'>'
            '<div class="aipkit_chat_container aipkit_popup_content"></div></div>')
    assert [b["bot_id"] for b in find_aipkit_bots(page)] == ["8"]


@pytest.mark.parametrize("page", [
    '<a href="/aipkit-chat/">aipkit chat</a>',
    '<div class="aipkit_chat_container_x" data-config="{}"></div>',  # not the class token
    '<div class="aipkit_chat_container"></div>',                        # no data-config
    '<script>var aipkit_chat_config_global = {"text": {}};</script>',
])
def test_no_bot_without_the_markers(page):
    assert find_aipkit_bots(page) == []


def test_version_from_the_script_tag():
    assert aipkit_version(
        "<script src='https://s/wp-content/plugins/gpt3-ai-content-generator/dist/js/"
        "public-main.bundle.js?ver=2.4.71' id='aipkit-public-main-js'></script>") == "2.4.71"
    assert aipkit_version("<p>no script</p>") is None


def test_a_named_bot_that_is_not_on_the_page_fails_and_lists_the_bots(kit):
    with pytest.raises(NonceError, match=r"bot 9 .*bot\(s\) 5"):
        AIPKit(kit.url, bot_id=9).complete("Hi")
    assert kit.routes() == ["page"]  # never falls back to another bot


def test_popup_bot_works(kit):
    kit.aipkit_popup = True
    assert AIPKit(kit.url).complete("Hi") == "Echo: Hi"


# -- requests ----------------------------------------------------------------------------

def test_a_message_is_a_cache_post_then_a_stream_get_on_one_connection(kit):
    bot = AIPKit(kit.url, timeout=5)
    assert bot.complete("Hello there") == "Echo: Hello there"
    assert bot.complete("Again") == "Echo: Again"
    assert kit.routes() == ["page", "aipkit_cache", "aipkit_stream", "aipkit_cache", "aipkit_stream"]
    assert kit.connections == 1  # the cache POST and the stream GET share the connection
    cache, stream = caches(kit)[0], streams(kit)[0]
    assert cache.method == "POST" and cache.query == {}
    form = cache.form
    assert form["action"] == "aipkit_cache_sse_message"
    assert form["_ajax_nonce"] == kit.aipkit_nonce and form["message"] == "Hello there"
    assert form["bot_id"] == "5"
    assert re.fullmatch(r"aipkit-client-msg-5-\d{13}-[a-z0-9]{5}", form["user_client_message_id"])
    assert stream.method == "GET" and stream.body == b""
    q = query(stream)
    assert list(q) == ["action", "cache_key", "bot_id", "session_id", "conversation_uuid", "post_id",
                       "_ts", "_ajax_nonce"]  # the browser's order
    assert q["action"] == "aipkit_frontend_chat_stream" and q["bot_id"] == "5" and q["post_id"] == "7"
    assert q["cache_key"].startswith("aipkit_sse_") and q["_ajax_nonce"] == kit.aipkit_nonce
    assert abs(int(q["_ts"]) / 1000 - time.time()) < 60
    assert uuid.UUID(q["session_id"]).version == 4 and uuid.UUID(q["conversation_uuid"]).version == 4
    assert stream.headers.get("Accept") == "text/event-stream"
    for record in (cache, stream):
        assert "Origin" not in record.headers and "Cookie" not in record.headers


def test_ids_are_random_never_derived_from_the_message(kit):
    one, two = AIPKit(kit.url), AIPKit(kit.url)
    for bot in (one, one, two):
        bot.complete("the same words")
    sessions = [query(r)["session_id"] for r in streams(kit)]
    conversations = [query(r)["conversation_uuid"] for r in streams(kit)]
    assert sessions[0] == sessions[1] != sessions[2]  # one guest id per client instance
    assert len(set(conversations)) == 3  # a stateless call is a new conversation


def test_the_message_zero_and_empty_messages_fail_before_any_traffic(kit):
    bot = AIPKit(kit.url)
    with pytest.raises(ValueError, match="'0' counts as empty"):
        bot.stream("0")
    with pytest.raises(ValueError, match="empty"):
        bot.complete("   ")
    with pytest.raises(ValueError, match="'0' counts as empty"):
        ChatGptt(base_url=kit.url).complete("0")
    assert kit.requests == []
    # with a system message the text sent is not "0": it goes through
    assert "0" in bot.complete([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "0"}])


# -- history ----------------------------------------------------------------------------

def test_a_conversation_continues_natively_on_the_server(kit):
    chat = AIPKit(kit.url).conversation(system="Be brief.")
    chat.ask("My name is Bob")
    assert chat.ask("What is my name?").startswith("Echo: What is my name? (history: 2 turns")
    first, second = streams(kit)
    assert query(first)["conversation_uuid"] == query(second)["conversation_uuid"] == chat.chat_id
    assert caches(kit)[1].form["message"] == "What is my name?"  # no history re-sent
    assert kit.aipkit.upstream[-1][-1] == {"role": "user", "content": "What is my name?"}
    assert [m["role"] for m in kit.aipkit.upstream[-1]] == ["user", "bot", "user"]
    chat.reset()
    chat.ask("New start")
    assert query(streams(kit)[-1])["conversation_uuid"] == chat.chat_id != query(first)["conversation_uuid"]


def test_a_stateless_call_with_exactly_the_held_turns_continues(kit):
    bot = AIPKit(kit.url)
    answer = bot.complete("Hi")
    bot.complete([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": answer},
                  {"role": "user", "content": "More"}])
    assert query(streams(kit)[0])["conversation_uuid"] == query(streams(kit)[1])["conversation_uuid"]
    assert caches(kit)[1].form["message"] == "More"


def test_other_turns_or_a_system_message_start_afresh_with_the_turns_folded_in(kit):
    bot = AIPKit(kit.url)
    bot.complete("Hi")
    bot.complete([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "not what was said"},
                  {"role": "user", "content": "More"}])
    bot.complete([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Solo"}])
    ids = [query(r)["conversation_uuid"] for r in streams(kit)]
    assert len(set(ids)) == 3
    assert caches(kit)[1].form["message"] == (
        "User: Hi\nAssistant: not what was said\n\nUser: More")
    assert caches(kit)[2].form["message"] == "Be brief.\n\nSolo"
    assert all(len(messages) == 1 for messages in kit.aipkit.upstream)  # nothing else upstream


def test_after_a_failed_turn_the_model_never_sees_that_message_twice(kit):
    chat = AIPKit(kit.url).conversation()
    chat.ask("First")
    kit.inject("error_event")
    with pytest.raises(ServerError) as info:
        chat.ask("Second")
    assert info.value.partial_text.startswith("Echo: Second")
    # the site logged "Second" without an answer: the retry must not go there again
    answer = chat.ask("Second")
    assert answer.startswith("Echo: User: First")
    for messages in kit.aipkit.upstream:
        assert not user_turns_in_a_row(messages)
    assert chat.messages[-2:] == [{"role": "user", "content": "Second"},
                                  {"role": "assistant", "content": answer}]
    chat.ask("Third")  # and the new conversation continues natively
    assert caches(kit)[-1].form["message"] == "Third"


def test_a_refusal_before_the_upstream_call_keeps_the_conversation(kit):
    chat = AIPKit(kit.url).conversation()
    chat.ask("First")
    kit.inject("banned_word")
    with pytest.raises(RejectedError):
        chat.ask("bad words")
    chat.ask("Fine words")
    assert len({query(r)["conversation_uuid"] for r in streams(kit)}) == 1
    assert caches(kit)[-1].form["message"] == "Fine words"


# -- the stream --------------------------------------------------------------------------

def test_each_delta_is_yielded_as_it_arrives(kit):
    kit.delay = 0.2
    stream = AIPKit(kit.url).stream("one two three four")
    first = next(stream)
    assert first == "Echo: "
    assert streams(kit)[-1].finished_at == 0.0  # the site is still streaming
    assert "".join([first, *stream]) == "Echo: one two three four"


def test_events_that_are_not_text_are_never_yielded(kit):
    kit.inject("warning")
    reply = Reply()
    pieces = list(AIPKit(kit.url).stream("Hi", reply=reply))
    assert "".join(pieces) == "Echo: Hi"
    assert reply.warnings == ["The answer may be incomplete."]
    kit.inject("citations")
    reply = AIPKit(kit.url).reply("Hi")
    assert reply.text == "Echo: Hi"
    assert reply.citations == [{"url": "https://example.org/source", "title": "A source"}]


def test_malformed_events_are_skipped(kit):
    kit.inject("malformed_sse")
    assert AIPKit(kit.url).complete("Hi there") == "Echo: Hi there"


def test_a_stream_without_done_is_interrupted_with_the_text_kept(kit):
    kit.inject("drop")
    with pytest.raises(StreamInterruptedError) as info:
        AIPKit(kit.url, retries=2).complete("one two three four five six")
    assert info.value.partial_text.startswith("Echo:")
    assert len(streams(kit)) == 1  # the site had the message: not sent again


# -- errors ------------------------------------------------------------------------------

def test_a_refused_nonce_at_the_cache_step_is_refreshed_once(kit):
    bot = AIPKit(kit.url)
    bot.complete("warm up")
    kit.expire_nonces()
    kit.clear_log()
    assert bot.complete("Hi") == "Echo: Hi"
    assert kit.routes() == ["aipkit_cache", "aipkit_nonce", "aipkit_cache", "aipkit_stream"]
    assert kit.requests[1].form == {"action": "aipkit_get_frontend_chat_nonce", "bot_id": "5"}


def test_a_refused_nonce_at_the_stream_reuses_the_cache_key(kit):
    bot = AIPKit(kit.url)
    bot.complete("warm up")
    kit.clear_log()
    kit.inject("expired_nonce")
    assert bot.complete("Hi") == "Echo: Hi"
    assert kit.routes() == ["aipkit_cache", "aipkit_stream", "aipkit_nonce", "aipkit_stream"]
    first, second = streams(kit)
    assert query(first)["cache_key"] == query(second)["cache_key"]


def test_a_nonce_refused_twice_is_an_authentication_error(kit):
    bot = AIPKit(kit.url)
    bot.complete("warm up")
    kit.inject("expired_nonce", count=2)
    with pytest.raises(chatgpt_providers.AuthenticationError):
        bot.complete("Hi")


def test_before_2_3_41_the_nonce_comes_from_the_page_again(kit):
    bot = AIPKit(kit.url)
    bot.complete("warm up")
    kit.expire_nonces()
    kit.inject("unsupported", target="session")  # the refresh action is unknown: HTTP 400 "0"
    kit.clear_log()
    assert bot.complete("Hi") == "Echo: Hi"
    assert kit.routes() == ["aipkit_cache", "aipkit_nonce", "page", "aipkit_cache", "aipkit_stream"]
    page = kit.requests[2]
    assert page.headers.get("Cache-Control") == "no-cache"  # past any page cache


def test_an_expired_cache_key_is_cached_again_once(kit):
    bot = AIPKit(kit.url)
    kit.inject("expired_key")
    assert bot.complete("Hi") == "Echo: Hi"
    assert [r for r in kit.routes() if r != "page"] == ["aipkit_cache", "aipkit_stream"] * 2
    kit.inject("expired_key", count=2)
    with pytest.raises(ResponseError, match="expired"):
        bot.complete("Hi")


def test_a_key_older_than_60_seconds_is_not_reused(kit):
    kit.aipkit_cache_ttl = 0.0  # every key has expired by the time it streams
    with pytest.raises(ResponseError, match="lost the cached message"):
        AIPKit(kit.url).complete("Hi")
    keys = [query(r)["cache_key"] for r in streams(kit)]
    assert len(keys) == 2 and keys[0] != keys[1]  # a new key each time: a used one is never sent again


@pytest.mark.parametrize("fault, error, words", [
    ("guests_disabled", BlockedError, "not logged in"),
    ("token_limit", RateLimitError, "quota"),
    ("banned_word", RejectedError, "not allowed"),
    ("banned_ip", BlockedError, "IP address"),
    ("foreign_origin", BlockedError, "foreign embed"),
    ("limited", ServerError, "Connection Error"),
    ("error_event", ServerError, "API Error"),
])
def test_each_stream_error_has_the_class_a_user_catches(kit, fault, error, words):
    bot = AIPKit(kit.url, retries=2)
    bot.complete("warm up")
    kit.clear_log()
    kit.inject(fault)
    got = []
    with pytest.raises(error, match=words) as info:
        for text in bot.stream("one two three four five six"):
            got.append(text)
    assert info.value.partial_text == "".join(got)
    assert info.value.provider == "AIPKit" and info.value.url.startswith(kit.url)
    assert kit.routes() == ["aipkit_cache", "aipkit_stream"]  # nothing sent twice
    assert bot.complete("after") == "Echo: after"


def test_a_foreign_origin_at_the_cache_step(kit):
    bot = AIPKit(kit.url, headers={"Origin": "https://elsewhere.example"})
    with pytest.raises(BlockedError, match="cors_denied"):
        bot.complete("Hi")


@pytest.mark.parametrize("fault, error", [("http_503", ServerError), ("rate_limit", RateLimitError),
                                          ("cloudflare", BlockedError)])
def test_http_failures_at_the_cache_step(kit, fault, error):
    bot = AIPKit(kit.url, retries=0)
    bot.complete("warm up")
    kit.inject(fault, target="cache")
    with pytest.raises(error):
        bot.complete("Hi")


def test_a_transient_failure_at_the_cache_step_is_retried(kit):
    bot = AIPKit(kit.url, retries=2, retry_policy=None, max_retry_wait=0.01)
    bot.retry_policy.backoff = 0.001
    bot.complete("warm up")
    kit.inject("http_503", target="cache")
    kit.clear_log()
    assert bot.complete("Hi") == "Echo: Hi"
    assert kit.routes() == ["aipkit_cache", "aipkit_cache", "aipkit_stream"]


# -- AIPower, ChatGptt and connect() on upgraded sites -----------------------------------

def test_chatgptt_keeps_working_when_its_site_upgrades():
    with LocalSite(delay=0, plugins=("ai-power",)) as site:
        bot = ChatGptt(base_url=site.url)
        power = AIPower(site.url, page="/")
        assert bot.complete("Before") == power.complete("Before") == "Echo: Before"
        assert site.routes().count("ajax") == 2
        site.ai_power_version = "2.4.71"  # the owner updates the plugin
        site.clear_log()
        assert bot.complete("After") == "Echo: After"
        assert site.routes() == ["ajax", "page", "aipkit_cache", "aipkit_stream"]
        assert power.complete("After") == "Echo: After"
        chat = bot.conversation()
        chat.ask("One")
        assert chat.ask("Two").startswith("Echo: Two (history: 2 turns")


def test_a_new_client_on_a_2_4_site_speaks_2_3_plus_from_the_start():
    with LocalSite(delay=0, plugins=("ai-power",), ai_power_version="2.4.71") as site:
        assert ChatGptt(base_url=site.url).complete("Hi") == "Echo: Hi"
        assert site.routes() == ["page", "aipkit_cache", "aipkit_stream"]


def test_a_page_with_both_generations():
    with LocalSite(delay=0, plugins=("ai-power", "aipkit")) as site:
        assert AIPower(site.url).complete("Hi") == "Echo: Hi"
        assert site.routes()[-1] == "aipkit_stream"  # the 2.3+ bot is the live one
        assert AIPower(site.url, bot_id="0").complete("Hi") == "Echo: Hi"
        assert site.routes()[-1] == "ajax"  # bot_id picks the legacy one
        found = detect(site.url)
        assert found.plugin == "AI Power 2.3+" and "also has AI Power" in found.detail
        assert detect(site.url, prefer="AI Power").plugin == "AI Power"


def test_detect_and_connect_on_a_2_3_plus_page(kit):
    found = detect(kit.url + "/")
    assert (found.plugin, found.version, found.name) == ("AI Power 2.3+", "2.4.71", "AI Power 2.4.71")
    assert found.supported
    bot = connect(kit.url + "/")
    kit.clear_log()
    assert bot.complete("Hi") == "Echo: Hi"
    assert kit.routes() == ["aipkit_cache", "aipkit_stream"]  # the detection page was reused


def test_detect_says_when_2_3_plus_is_installed_but_the_page_has_no_bot():
    page = ("<script id='aipkit-public-main-js' src='/wp-content/plugins/gpt3-ai-content-generator/"
            "dist/js/public-main.bundle.js?ver=2.4.5'></script>")
    found = chatgpt_providers.interfaces.detection.detect_in_page(page)
    assert found.plugin is None and "shows no chatbot" in found.detail and found.version == "2.4.5"


def test_the_plugin_gone_from_a_2_3_plus_site():
    with LocalSite(delay=0, plugins=("aipkit",)) as site:
        bot = AIPKit(site.url)
        bot.complete("warm up")
        site.inject("unsupported", target="cache", count=2)  # a stale page still shows the bot
        with pytest.raises(UnsupportedSiteError, match="400 '0'"):
            bot.complete("Hi")
        site.plugins = ()  # and once the page shows none
        with pytest.raises(NonceError, match="Unable to extract a chatbot"):
            bot.complete("Hi")


# -- everything built on stream() --------------------------------------------------------

def test_interfaces_built_on_stream(kit):
    from chatgpt_providers import ChatCompletion, Client

    bot = AIPKit(kit.url)
    client = Client(provider=bot)
    done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert done.choices[0].message.content == "Echo: Hi" and done.provider == "AIPKit"
    chunks = list(client.chat.completions.create(model="x", messages=[{"role": "user", "content": "Yo"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: Yo"
    assert ChatCompletion.create("x", [{"role": "user", "content": "Hey"}], provider=bot) == "Echo: Hey"
    assert "".join(AIPKit.create_completion("x", "Sup", base_url=kit.url)) == "Echo: Sup"
    failing = AIPKit("http://127.0.0.1:9", retries=0, timeout=2)
    answer = RetryProvider([failing, bot]).reply("Hi")
    assert answer.text == "Echo: Hi" and answer.provider == "AIPKit"
    assert bot.batch(["a", "b", "c"], workers=3) == ["Echo: a", "Echo: b", "Echo: c"]
    assert bot.display_stream("Hi") == "Echo: Hi"


def test_eight_threads_share_one_client(kit):
    bot = AIPKit(kit.url)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(bot.complete(f"m{i}"))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == sorted(f"Echo: m{i}" for i in range(8))
    assert kit.routes().count("page") == 1  # one nonce for all


# -- the wire: what a real server does that the stand-in does not ------------------------

def aipkit_site(stream):
    """A raw-socket AIPKit site: the page, the cache POST, then ``stream(conn)`` for the GET."""
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET" and request.path == "/":
            container = (f'<div class="aipkit_chat_container" data-bot-id="5" data-config=\'{{&quot;botId'
                         f'&quot;:5,&quot;ajaxUrl&quot;:&quot;{server.url}/wp-admin/admin-ajax.php&quot;,'
                         f'&quot;nonce&quot;:&quot;054d4dd8dd&quot;,&quot;postId&quot;:0}}\'></div>')
            conn.send(response(body=container.encode()))
        elif request.method == "POST":
            conn.send(json_response({"success": True, "data": {
                "cache_key": "aipkit_sse_qmWIqRNG75GsbNWFL0NUahJNCI3J0VzJ"}}))
        else:
            stream(conn)

    server = RawServer(script)
    return server


STREAM_EVENTS = (b":" + b" " * 4096 + b"\n\n"
                 + b'event: message_start\ndata: {"message_id":"aipkit-msg-6b0252b896e8a9.16516202"}\n\n'
                 + b'event: status\ndata: {"type":"response.created","status":"in_progress"}\n\n'
                 + 'data: {"delta":"Hello <b>there<\\/b>\\nfriend \\u00e9 é"}\n\n'.encode()
                 + b'event: openai_response_id\ndata: {"id":"resp_1"}\n\n'
                 + b'event: done\ndata: {"finished":true}\n\n')
EXPECTED = "Hello <b>there</b>\nfriend é é"
CLOSE_DELIMITED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                   b"Cache-Control: no-cache, no-store, must-revalidate, max-age=0, no-transform\r\n"
                   b"Connection: close\r\n\r\n")


def test_done_ends_the_call_though_the_server_keeps_the_connection_open():
    import queue

    client_closed: queue.Queue[bool] = queue.Queue()

    def stream(conn):
        conn.send(CLOSE_DELIMITED + STREAM_EVENTS)
        client_closed.put(conn.wait_for_client_close(10))  # False: the server gave up first
        conn.close()

    with aipkit_site(stream) as server:
        assert AIPKit(server.url, timeout=(5, 30)).complete("Hi") == EXPECTED
        # the client ended the call and closed the connection; it did not wait 10 s (asked
        # before the server is closed, which would end the wait too)
        assert client_closed.get(timeout=15) is True


@pytest.mark.parametrize("cut", [1, 2, 3, 4097, 4100, 4130, 4200, 4250, 4300, 4330, 4380])
def test_any_chunk_boundary_and_a_byte_order_mark(cut):
    body = b"\xef\xbb\xbf" + STREAM_EVENTS

    def stream(conn):
        conn.send(stream_head())
        conn.send(chunk(body[:cut]))
        conn.send(chunk(body[cut:]) + LAST_CHUNK)

    with aipkit_site(stream) as server:
        assert AIPKit(server.url, timeout=(5, 10)).complete("Hi") == EXPECTED
        get = [r for r in server.requests if "aipkit_frontend_chat_stream" in r.path][0]
        params = parse_qs(urlsplit(get.path).query)
        assert params["cache_key"] == ["aipkit_sse_qmWIqRNG75GsbNWFL0NUahJNCI3J0VzJ"]
        assert "post_id" not in params  # postId 0 is not sent
        assert server.accepted == 1  # page, cache and stream on one connection


def test_an_upstream_failure_that_just_closes_without_done():
    def stream(conn):
        conn.send(CLOSE_DELIMITED + b":" + b" " * 4096 + b"\n\n"
                  + b'event: message_start\ndata: {"message_id":"m"}\n\n'
                  + b'data: {"delta":"Partial "}\n\n'
                  + b'event: error\nid: err-1795314445\ndata: {"error":"API Error: upstream 500"}\n\n')
        conn.close()

    with aipkit_site(stream) as server, pytest.raises(ServerError, match="API Error: upstream 500") as info:
        AIPKit(server.url, timeout=(5, 10)).complete("Hi")
    assert info.value.partial_text == "Partial "


def test_a_stream_that_is_not_an_event_stream_is_refused():
    def stream(conn):
        conn.send(response(body=b"<html>maintenance</html>"))

    with aipkit_site(stream) as server, pytest.raises(ResponseError, match="where an event stream"):
        AIPKit(server.url, timeout=(5, 10), retries=0).complete("Hi")


# -- the command line on 2.3+ sites ------------------------------------------------------

def cli(*args, stdin=""):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "chatgpt_providers", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_the_command_line_on_a_2_3_plus_site_served_by_serve():
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-m", "chatgpt_providers", "serve", "--port", "0",
                               "--delay", "0", "--plugins", "aipkit"], stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        assert "aipkit" in first
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        for provider in ("aipkit", "chatgptt", "ai-power"):
            done = cli("ask", "Hi", "--provider", provider, "--base-url", url)
            assert (done.returncode, done.stdout) == (0, "Echo: Hi\n"), done.stderr
        done = cli("chat", "--provider", "chatgptt", "--base-url", url, stdin="My name is Bob\nAnd?\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1].startswith("Echo: And? (history: 2 turns")
        done = cli("detect", url + "/")
        assert done.returncode == 0 and "AI Power 2.4.71" in done.stdout and "AIPower(" in done.stdout
        done = cli("check", url + "/")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "AI Power 2.4.71" in done.stdout and done.stdout.rstrip().endswith("ok")
        done = cli("check", "--provider", "aipkit", "--base-url", url)
        assert done.returncode == 0 and done.stdout.rstrip().endswith("ok"), done.stdout + done.stderr
        done = cli("ask", "0", "--provider", "aipkit", "--base-url", url)
        assert done.returncode == 2 and "'0' counts as empty" in done.stderr
    finally:
        server.terminate()
        server.wait(10)


def test_serve_refuses_an_unknown_plugin_in_one_line():
    done = cli("serve", "--port", "0", "--plugins", "aipkit,wordfence")
    assert done.returncode == 2 and "wordfence" in done.stderr and "Traceback" not in done.stderr


def test_the_guest_id_and_the_nonce_stay_out_of_errors_and_logs(kit, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="chatgpt_providers")
    bot = AIPKit(kit.url, retries=1, max_retry_wait=0.01)
    bot.retry_policy.backoff = 0.001
    bot.complete("warm up")
    secrets = (bot.protocol.session_id, kit.aipkit_nonce)
    kit.inject("http_503", count=2)  # logged as a retry, then raised
    with pytest.raises(ServerError) as info:
        bot.complete("Hi")
    error = info.value
    shown = " ".join([str(error), str(error.url), str(error.body), repr(error), caplog.text])
    assert "aipkit_frontend_chat_stream" in shown  # the URL is there...
    assert not any(secret in shown for secret in secrets)  # ...without the guest id or the nonce
