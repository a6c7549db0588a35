"""The client against small misbehaving HTTP servers on real sockets (issue 10).

The stand-in site (``LocalSite``) speaks the protocols as the client reads them; the servers
here send what real WordPress sites and the proxies in front of them send: a byte-order mark,
a stream kept open after its end marker, redirects to other ports, a connection cut right
after the headers, addresses the client must not trust.
"""

from __future__ import annotations

import json
import threading
from typing import List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rawserver import (
    LAST_CHUNK,
    Connection,
    RawServer,
    Request,
    Script,
    chunk,
    json_response,
    response,
    stream_head,
)
from sseclient import SSEClient

from chatgpt_providers import AIEngine, AIPower, errors
from chatgpt_providers.core.redirects import keeps_credentials, origin
from chatgpt_providers.core.retry import RetryPolicy
from chatgpt_providers.core.sse import iter_raw_events, parse_event
from chatgpt_providers.core.transport import Transport

BOM = b"\xef\xbb\xbf"
NONCE = "0a1b2c3d4e"
FRESH_NONCE = "5f6e7d8c9b"


# -- a scripted raw-socket HTTP server ------------------------------------------------------




def power_page(url: str, nonce: str = NONCE, data_url: Optional[str] = None) -> bytes:
    data_url = data_url if data_url is not None else url + "/"
    return (f'<html><body><div class="wpaicg-chat-shortcode" data-url="{data_url}" '
            f'data-nonce="{nonce}" data-post-id="58" data-bot-id="0" data-type="shortcode">'
            "</div></body></html>").encode()


def power_events(*words: str) -> bytes:
    events = [{"id": "chatcmpl-1", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
              for w in words]
    return b"".join(b"data: %s\n\n" % json.dumps(e).encode() for e in events)


DONE = b"data: [DONE]\n\n"


def engine_events(*words: str, new_token: Optional[str] = None) -> bytes:
    final = {"success": True, "reply": "".join(words), "images": None, "actions": [],
             "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    if new_token:
        final["new_token"] = new_token
    events = [{"type": "live", "data": w} for w in words]
    events.append({"type": "end", "data": json.dumps(final)})
    return b"".join(b"data: %s\n\n" % json.dumps(e).encode() for e in events)


def start_session(nonce: str = NONCE) -> bytes:
    return json_response({"success": True, "sessionId": "6745f0c2a1b3e", "restNonce": nonce})


def no_retry_waits(**options) -> RetryPolicy:
    return RetryPolicy(sleep=lambda seconds: None, **options)


# -- 2. a byte-order mark ------------------------------------------------------------------


def test_a_bom_before_an_ai_power_stream_loses_no_text():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=BOM + power_page(server.url)))
        else:
            conn.send(stream_head() + chunk(BOM + power_events("Hel", "lo")) + chunk(DONE) + LAST_CHUNK)

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"


def test_a_bom_cut_across_two_reads_is_still_dropped():
    """Each chunk of a chunked body is its own read, so the BOM arrives as b"\\xef", then
    b"\\xbb\\xbf"."""

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(stream_head() + chunk(BOM[:1]) + chunk(BOM[1:])
                      + chunk(power_events("Hel", "lo") + DONE) + LAST_CHUNK)

    with RawServer(script) as server:
        bot = AIPower(server.url)
        pieces: List[bytes] = []
        read = bot.transport.iter_bytes

        def recording(*args, **kwargs):
            for piece in read(*args, **kwargs):
                pieces.append(piece)
                yield piece

        bot.transport.iter_bytes = recording  # type: ignore[method-assign]
        assert bot.complete("Hi") == "Hello"
        assert pieces[1:3] == [BOM[:1], BOM[1:]]  # (pieces[0] is the page)


def test_a_bom_before_json_bodies_is_ignored():
    def script(request: Request, conn: Connection) -> None:
        if request.path.endswith("/start_session"):
            conn.send(json_response({"success": True, "sessionId": "s", "restNonce": NONCE}, prefix=BOM))
        else:
            conn.send(json_response({"success": True, "reply": "Hello"}, prefix=BOM))

    with RawServer(script) as server:
        assert AIEngine(server.url, bot_id="default").complete("Hi") == "Hello"
        assert server.requests[-1].headers["x-wp-nonce"] == NONCE

    def power(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}, prefix=BOM))

    with RawServer(power) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"


# -- 3. the call ends at the end marker ----------------------------------------------------


@pytest.mark.parametrize("plugin", ["AI Engine", "AI Power"])
def test_a_call_ends_at_the_end_marker_while_the_server_keeps_the_socket_open(plugin):
    server_gave_up = threading.Event()  # the server held the stream open 4 s, then closed it
    client_closed = threading.Event()

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        elif request.path.endswith("/start_session"):
            conn.send(start_session())
        else:
            events = engine_events("Hel", "lo") if plugin == "AI Engine" else power_events("Hel", "lo") + DONE
            conn.send(stream_head() + chunk(events))  # no last chunk: the stream stays open
            if conn.wait_for_client_close(timeout=4):
                client_closed.set()
            else:
                server_gave_up.set()
            conn.close()

    with RawServer(script) as server:
        bot = AIEngine(server.url, bot_id="default") if plugin == "AI Engine" else AIPower(server.url)
        assert bot.complete("Hi") == "Hello"
        assert not server_gave_up.is_set()  # returned while the server still held the stream open
        assert client_closed.wait(5)  # and the client closed that connection rather than keep it
        assert bot.complete("Hi again") == "Hello"
        assert server.requests[-1].connection != server.requests[-3].connection


@pytest.mark.parametrize("plugin", ["AI Engine", "AI Power"])
def test_a_complete_stream_keeps_its_connection_for_the_next_call(plugin):
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        elif request.path.endswith("/start_session"):
            conn.send(start_session())
        else:
            events = engine_events("Hel", "lo") if plugin == "AI Engine" else power_events("Hel", "lo") + DONE
            conn.send(stream_head() + chunk(events) + LAST_CHUNK)

    with RawServer(script) as server:
        bot = AIEngine(server.url, bot_id="default") if plugin == "AI Engine" else AIPower(server.url)
        assert [bot.complete("Hi"), bot.complete("Hi again")] == ["Hello", "Hello"]
        assert server.accepted == 1
        assert len(server.paths("POST")) == (3 if plugin == "AI Engine" else 2)  # start_session too


# -- 4. redirects: origins, the nonce, credentials -----------------------------------------


def test_origin_fills_in_default_ports_and_never_raises():
    assert origin("https://S.example") == origin("https://s.example:443/x") == ("https", "s.example", 443)
    assert origin("http://s.example/") == ("http", "s.example", 80)
    assert origin("http://s.example:99999/") == origin("http://[::1/") == ("", "", None)


@pytest.mark.parametrize("original, target, keeps", [
    ("https://s.example/a", "https://s.example/b", True),
    ("https://s.example/a", "https://s.example:443/b", True),
    ("http://s.example/a", "https://s.example/b", True),        # the upgrade
    ("http://s.example:80/a", "https://s.example:443/b", True),
    ("http://s.example:8080/a", "https://s.example/b", False),   # not from a default port
    ("http://s.example/a", "https://s.example:8443/b", False),   # not to a default port
    ("https://s.example/a", "http://s.example/b", False),        # a downgrade
    ("https://s.example/a", "http://s.example:8080/b", False),
    ("https://s.example/a", "https://s.example:8443/b", False),
    ("https://s.example/a", "https://evil.example/b", False),
    ("https://s.example/a", "https://s.example.evil.example/b", False),
    ("http://127.0.0.1:8000/", "http://127.0.0.1:8001/", False),
    ("https://s.example/a", "http://s.example:99999/", False),
])
def test_which_redirects_keep_the_nonce_and_credentials(original, target, keeps):
    assert keeps_credentials(original, target) is keeps


def test_a_post_redirected_to_another_port_sends_the_nonce_nowhere():
    def elsewhere(request: Request, conn: Connection) -> None:
        conn.send(json_response({"success": True, "reply": "stolen"}))

    def site(request: Request, conn: Connection) -> None:
        if request.path.endswith("/start_session"):
            conn.send(start_session())
        else:
            conn.send(response("307 Temporary Redirect",
                               headers={"Location": other.url + request.path}))

    with RawServer(elsewhere) as other, RawServer(site) as server:
        with pytest.raises(errors.ResponseError, match="redirected a POST to another site"):
            AIEngine(server.url, bot_id="default", retry_policy=no_retry_waits()).complete("Hi")
        assert other.requests == []


def test_a_get_redirected_to_another_origin_drops_the_nonce_and_every_credential():
    def elsewhere(request: Request, conn: Connection) -> None:
        conn.send(response(body=b"ok"))

    def site(request: Request, conn: Connection) -> None:
        if request.path == "/set":
            conn.send(response(body=b"set", headers={"Set-Cookie": "wp_session=c00k1e5ecret; Path=/"}))
        elif request.path == "/here":
            conn.send(response("302 Found", headers={"Location": "/final"}))
        elif request.path == "/final":
            conn.send(response(body=b"ok"))
        else:
            conn.send(response("307 Temporary Redirect", headers={"Location": other.url + "/landing"}))

    with RawServer(elsewhere) as other, RawServer(site) as server:
        transport = Transport(headers={"Authorization": "Bearer user-token-123",
                                       "Proxy-Authorization": "Basic cHJveHk6cGFzcw=="})
        transport.request("GET", server.url + "/set")
        # the same origin keeps everything: the nonce, your headers, the jar's cookie
        transport.request("GET", server.url + "/here", secret_headers={"X-WP-Nonce": NONCE})
        same = server.requests[-1]
        assert same.path == "/final"
        assert same.headers["x-wp-nonce"] == NONCE
        assert same.headers["authorization"] == "Bearer user-token-123"
        assert same.headers["cookie"] == "wp_session=c00k1e5ecret"
        # another port of the same host: none of it (requests would send the jar's cookie)
        transport.request("GET", server.url + "/away", secret_headers={"X-WP-Nonce": NONCE})
        transport.request("GET", server.url + "/away",
                          headers={"Cookie": "extra=explicit-cookie"})
        for moved in other.requests:
            assert moved.path == "/landing"
            for name in ("x-wp-nonce", "authorization", "cookie", "proxy-authorization"):
                assert name not in moved.headers, name
        assert len(other.requests) == 2
        transport.close()


def test_a_page_redirected_to_another_port_gets_no_cookie_from_the_jar():
    """requests adds jar cookies per host, whatever the port: an AI Power page fetch that is
    redirected to another port must not carry the site's session cookie there."""

    def elsewhere(request: Request, conn: Connection) -> None:
        conn.send(response(body=power_page(server.url)))

    def site(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response("302 Found", headers={"Location": other.url + "/chat/"}))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(elsewhere) as other, RawServer(site) as server:
        bot = AIPower(server.url, headers={"Authorization": "Bearer user-token-123"})
        bot.transport.session.cookies.set("wp_session", "c00k1e5ecret")
        assert bot.complete("Hi") == "Hello"
        page = other.requests[0]
        assert "cookie" not in page.headers and "authorization" not in page.headers
        post = server.requests[-1]
        assert post.method == "POST" and post.headers["cookie"] == "wp_session=c00k1e5ecret"
        assert post.headers["authorization"] == "Bearer user-token-123"


def test_a_redirect_to_an_address_that_cannot_be_requested_is_a_response_error():
    for location in ("http://127.0.0.1:99999/", "http://[::1/", "ftp://127.0.0.1/x", "https:///nohost"):
        def script(request: Request, conn: Connection, location=location) -> None:
            conn.send(response("302 Found", headers={"Location": location}))

        with RawServer(script) as server:
            with pytest.raises(errors.ResponseError, match="cannot be requested"):
                AIPower(server.url, retry_policy=no_retry_waits()).complete("Hi")
            assert len(server.requests) == 1  # not retried: another try cannot help


def test_a_location_in_utf8_bytes_is_followed():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET" and request.path == "/":
            conn.send(b"HTTP/1.1 302 Found\r\nLocation: /\xd1\x87\xd0\xb0\xd1\x82/\r\n"
                      b"Content-Length: 0\r\n\r\n")
        elif request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        assert server.requests[1].path == "/%D1%87%D0%B0%D1%82/"


# -- 5. no duplicate posts -----------------------------------------------------------------


def test_a_stream_cut_right_after_its_200_headers_is_not_posted_again():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(stream_head())
            conn.close()

    with RawServer(script) as server:
        bot = AIPower(server.url, retry_policy=no_retry_waits(retries=2))
        with pytest.raises(errors.StreamInterruptedError) as info:
            bot.complete("Hi")
        assert info.value.partial_text == ""
        assert len(server.paths("POST")) == 1


@pytest.mark.parametrize("plugin", ["AI Engine", "AI Power"])
@pytest.mark.parametrize("failure", ["hang up", "504"])
def test_a_message_post_that_reached_the_site_is_never_posted_again(plugin, failure):
    # The site got the whole body, then the connection closed without an answer (a worker
    # killed, a proxy timing out) or a gateway answered 504: the site may be running it.
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        elif request.path.endswith("/start_session"):
            conn.send(start_session())
        elif failure == "504":
            conn.send(response("504 Gateway Timeout", b"upstream timed out"))
        else:
            conn.close()

    with RawServer(script) as server:
        policy = no_retry_waits(retries=3)
        bot = (AIEngine(server.url, bot_id="default", retry_policy=policy) if plugin == "AI Engine"
               else AIPower(server.url, retry_policy=policy))
        with pytest.raises((errors.NetworkError, errors.ServerError)):
            bot.complete("transfer $100 to Alice")
        message_posts = [r for r in server.requests
                         if r.method == "POST" and not r.path.endswith("/start_session")]
        assert len(message_posts) == 1


def test_retry_accepted_opts_in_to_posting_again():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        elif len(server.paths("POST")) < 3:
            conn.send(stream_head())
            conn.close()
        else:
            conn.send(stream_head() + chunk(power_events("Hel", "lo") + DONE) + LAST_CHUNK)

    with RawServer(script) as server:
        bot = AIPower(server.url, retry_policy=no_retry_waits(retries=2, retry_accepted=True))
        assert bot.complete("Hi") == "Hello"
        assert len(server.paths("POST")) == 3


def test_a_503_before_any_answer_is_still_retried():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        elif len(server.paths("POST")) == 1:
            conn.send(response("503 Service Unavailable", b"busy"))
        else:
            conn.send(stream_head() + chunk(power_events("Hel", "lo") + DONE) + LAST_CHUNK)

    with RawServer(script) as server:
        assert AIPower(server.url, retry_policy=no_retry_waits()).complete("Hi") == "Hello"
        assert len(server.paths("POST")) == 2


def test_a_refused_connection_is_still_retried():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    waits = []
    server = RawServer(script, listen=False)  # bound, not listening: connections are refused
    try:
        def sleep(seconds: float) -> None:
            waits.append(seconds)
            server.listen()

        bot = AIPower(server.url, retry_policy=RetryPolicy(sleep=sleep))
        assert bot.complete("Hi") == "Hello"
        assert len(waits) == 1
    finally:
        server.close()


def test_a_connection_cut_mid_chunk_says_the_reply_did_not_end():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(stream_head() + chunk(power_events("Hel")) + b"40\r\ndata: {")
            conn.close()

    with RawServer(script) as server:
        with pytest.raises(errors.StreamInterruptedError) as info:
            AIPower(server.url, retry_policy=no_retry_waits()).complete("Hi")
        assert "closed before the reply ended" in str(info.value)
        assert "invalid literal" not in str(info.value)
        assert info.value.partial_text == "Hel"
        assert len(server.paths("POST")) == 1


# -- 8. events parse as sseclient-py parses them -------------------------------------------

_VALUES = st.one_of(
    st.sampled_from(["", "message", "error", " x", "[DONE]", '{"a": 1}']),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12),
)
_LINES = st.one_of(
    st.tuples(st.sampled_from(["data", "event", "id", "retry", "", "dat", "data "]),
              st.sampled_from([": ", ":", "", ":  "]), _VALUES).map("".join),
    st.just(""),  # a blank line inside: two events
)
_EVENTS = st.one_of(
    st.tuples(_VALUES, _VALUES).map(lambda nv: [f"event: {nv[0]}", f"data: {nv[1]}"]),  # the plugins' forms
    _VALUES.map(lambda value: [f"data: {value}"]),
    st.lists(_LINES, min_size=1, max_size=6),  # anything else
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_EVENTS, max_size=6), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=5))
def test_events_parse_as_sseclient_py_parses_them(events, newline, cuts):
    lines = [line for event in events for line in [*event, ""]]
    stream = "".join(line + newline for line in lines).encode("utf-8")
    expected = [(None if e.event == "message" else e.event, e.data) for e in SSEClient([stream]).events()]
    points = [0, *sorted(c for c in set(cuts) if c < len(stream)), len(stream)]
    pieces = [stream[a:b] for a, b in zip(points, points[1:])]
    parsed = [parse_event(raw) for raw in iter_raw_events(pieces)]
    assert [event for event in parsed if event is not None] == expected


def test_named_multi_line_events_and_comments_parse_as_sseclient_py_does():
    stream = (b": a comment\n\nevent: error\ndata: first\ndata:second\nid: 7\n\n"
              b"event: message\ndata: plain\n\nevent:\ndata: x\n\ndata\n\n")
    expected = [(None if e.event == "message" else e.event, e.data) for e in SSEClient([stream]).events()]
    assert expected == [("error", "first\nsecond"), (None, "plain"), (None, "x"), (None, "")]
    parsed = [parse_event(raw) for raw in iter_raw_events([stream])]
    assert [event for event in parsed if event is not None] == expected


# -- 9. nonces and cookies stay out of errors ----------------------------------------------

ENGINE_PAGE = (
    "<html><head><title>Chat</title></head><body>\n"
    "<div class='mwai-chatbot-container' data-params='{&quot;aiName&quot;:&quot;AI: &quot;}' "
    "data-system='{&quot;botId&quot;:&quot;default&quot;,&quot;customId&quot;:null,"
    "&quot;userData&quot;:null,&quot;sessionId&quot;:&quot;6745f0c2a1b3e&quot;,"
    "&quot;restNonce&quot;:&quot;{nonce}&quot;,&quot;contextId&quot;:58,"
    "&quot;pluginUrl&quot;:&quot;https:\\/\\/site.example\\/wp-content\\/plugins\\/ai-engine\\/&quot;,"
    "&quot;restUrl&quot;:&quot;{rest}&quot;,&quot;stream&quot;:true}'></div></body></html>"
)
AIPKIT_PAGE = (
    '<div class="aipkit_chat_container aipkit-theme-custom" id="aipkit_chat_container_5" '
    "data-bot-id=\"5\" data-config='{&quot;botId&quot;:5,&quot;ajaxUrl&quot;:&quot;https:\\/\\/"
    "site.example\\/wp-admin\\/admin-ajax.php&quot;,&quot;nonce&quot;:&quot;054d4dd8dd&quot;,"
    "&quot;postId&quot;:7}'></div>"
)


@pytest.mark.parametrize("body, secret", [
    (ENGINE_PAGE.replace("{nonce}", NONCE).replace("{rest}", "https:\\/\\/site.example\\/wp-json"), NONCE),
    (AIPKIT_PAGE, "054d4dd8dd"),
    ('data: {"type":"end","data":"{\\"success\\":true,\\"reply\\":\\"Hi\\",\\"new_token\\":\\"'
     + FRESH_NONCE + '\\"}"}', FRESH_NONCE),
    ('{"success":true,"reply":"Hi","new_token":"' + FRESH_NONCE + '"}', FRESH_NONCE),
    ('<script>var wpaicgParams = {"ajax_url":"https:\\/\\/s\\/wp-admin\\/admin-ajax.php",'
     '"search_nonce":"' + NONCE + '"};</script>', NONCE),
    ("<form><input type='hidden' name='_wpnonce' value='" + NONCE + "'></form>", NONCE),
])
def test_excerpts_mask_the_nonce_formats_real_pages_use(body, secret):
    padded = " " * 50 + body + "<p>" + "x" * 2000 + "</p>"
    for text in (body, padded, padded.encode()):
        assert secret not in errors.excerpt(text)
        assert secret not in errors.ResponseError("odd", body=text).body
        whole = errors.excerpt(text, limit=len(text))  # the nonce inside the excerpt, masked
        assert secret not in whole and "***" in whole


def test_usage_counts_are_not_mistaken_for_tokens():
    body = '{"usage": {"prompt_tokens": 123456, "completion_tokens": 654321, "total_tokens": 777777}}'
    assert errors.excerpt(body) == body


def test_the_nonce_a_client_holds_is_masked_wherever_the_site_echoes_it():
    """A site that echoes the nonce in an unlabelled place (here: an error message) cannot
    put it in an error: the values the client holds are masked, not just nonce-shaped keys."""

    def script(request: Request, conn: Connection) -> None:
        if request.path.endswith("/start_session"):
            conn.send(json_response({"success": True, "sessionId": "s", "restNonce": NONCE}))
        else:
            echo = f"Bad request {request.headers['x-wp-nonce']} for bot default"
            conn.send(json_response({"success": False, "message": echo}, "500 Internal Server Error"))

    with RawServer(script) as server:
        with pytest.raises(errors.ServerError) as info:
            AIEngine(server.url, bot_id="default", retry_policy=no_retry_waits()).complete("Hi")
        error = info.value
        assert NONCE not in str(error) and NONCE not in error.body and "***" in error.body


def test_cookie_values_the_client_holds_are_masked_in_errors_and_logs(caplog):
    secret = "3f9a7c1e-session-cookie"

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url),
                               headers={"Set-Cookie": f"wpaicg_session={secret}; Path=/"}))
        elif len(server.paths("POST")) == 1:
            conn.send(response("503 Service Unavailable", f"upstream said: session {secret} gone".encode()))
        else:
            conn.send(response("403 Forbidden", f"<p>Denied (session {secret})</p>".encode() + b"y" * 2000))

    with RawServer(script) as server, caplog.at_level("DEBUG", logger="chatgpt_providers"):
        with pytest.raises(errors.ResponseError) as info:
            AIPower(server.url, retry_policy=no_retry_waits(retries=1)).complete("Hi")
        error = info.value
        assert secret not in str(error) and secret not in error.body
        assert any("retry 1 of 1" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if secret in r.getMessage()]  # at every level


def test_a_refused_nonce_the_site_echoes_stays_out_of_logs_and_errors(caplog):
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url, NONCE if len(server.paths("GET")) == 1
                                               else FRESH_NONCE)))
        else:
            message = f"Nonce verification failed: {request.form['_wpnonce']}"
            conn.send(json_response({"status": "error", "msg": message}))

    with RawServer(script) as server, caplog.at_level("DEBUG", logger="chatgpt_providers"):
        with pytest.raises(errors.AuthenticationError) as info:
            AIPower(server.url).complete("Hi")
        assert len(server.paths("POST")) == 2
        shown = str(info.value) + info.value.body + " ".join(r.getMessage() for r in caplog.records)
        assert "Nonce verification failed" in shown
        assert NONCE not in shown and FRESH_NONCE not in shown


def test_a_held_value_cut_by_the_excerpt_is_masked_too():
    transport = Transport()
    transport.hold_secret(FRESH_NONCE)
    body = "x" * (errors.BODY_EXCERPT_CHARS - 5) + FRESH_NONCE + " tail"
    error = transport.redact(errors.ResponseError("odd", body=body))
    assert FRESH_NONCE[:4] not in error.body and error.body.endswith("***…")
    transport.close()


# -- 10. everything a site can do wrong arrives as a ProviderError -------------------------


def test_a_data_url_outside_latin_1_is_sent_percent_encoded():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url, data_url=server.url + "/чат/")))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        post = server.requests[-1]
        assert post.headers["referer"] == server.url + "/%D1%87%D0%B0%D1%82/"
        assert post.form["url"] == server.url + "/%D1%87%D0%B0%D1%82/"


def test_a_page_without_a_charset_is_read_as_utf_8():
    """requests reads text/html without a charset as ISO-8859-1; WordPress writes UTF-8."""

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            page = power_page(server.url, data_url=server.url + "/чат/")
            conn.send(response(body=page, content_type="text/html"))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        assert server.requests[-1].headers["referer"] == server.url + "/%D1%87%D0%B0%D1%82/"


def test_a_page_address_outside_latin_1_works_without_a_data_url():
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            page = power_page(server.url).replace(f'data-url="{server.url}/" '.encode(), b"")
            conn.send(response(body=page))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url, page="/чат/").complete("Hi") == "Hello"
        assert server.requests[0].path == "/%D1%87%D0%B0%D1%82/"
        assert server.requests[-1].headers["referer"] == server.url + "/%D1%87%D0%B0%D1%82/"


def _engine_page_script(system: str, answer: Optional[bytes] = None) -> Script:
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            page = ("<div class='mwai-chatbot-container' data-system='"
                    + system.replace('"', "&quot;") + "'></div>")
            conn.send(response(body=page.encode()))
        elif request.path.endswith("/start_session"):
            conn.send(response("404 Not Found", b'{"code":"rest_no_route"}', content_type="application/json"))
        else:
            conn.send(answer or json_response({"success": True, "reply": "Hello"}))

    return script


@pytest.mark.parametrize("system", [
    '{"botId": "default", "restUrl": 5, "restNonce": "0a1b2c3d4e"}',
    '{"botId": "default", "restUrl": ["x"], "restNonce": "0a1b2c3d4e"}',
    '{"botId": "default", "restUrl": "http://[::1", "restNonce": "0a1b2c3d4e"}',
    '{"botId": "default", "restUrl": "http://127.0.0.1:99999/wp-json", "restNonce": "0a1b2c3d4e"}',
    '{"botId": "default", "restUrl": "javascript:alert(1)", "restNonce": "0a1b2c3d4e"}',
    '{"botId": "default", "restNonce": 12345}',
    '{"botId": "default", "restNonce": {"a": 1}}',
    '{"botId": "default", "restNonce": "0a1b\\r\\nX-Evil: 1"}',
    '{"botId": "default", "restNonce": "нонс-не-latin-1"}',
    '{"botId": ["a"], "customId": {"x": 1}, "contextId": [1], "restNonce": "0a1b2c3d4e"}',
])
def test_odd_ai_engine_settings_on_a_page_give_a_provider_error_or_an_answer(system):
    with RawServer(_engine_page_script(system)) as server:
        bot = AIEngine(server.url, retry_policy=no_retry_waits())
        try:
            assert bot.complete("Hi") == "Hello"
        except errors.ProviderError as exc:
            assert not isinstance(exc, errors.NetworkError), exc  # not retried as a network fault


def test_a_relative_rest_url_on_the_page_is_read_against_the_page():
    system = '{"botId": "default", "restUrl": "/wp-json", "restNonce": "0a1b2c3d4e"}'
    with RawServer(_engine_page_script(system)) as server:
        assert AIEngine(server.url).complete("Hi") == "Hello"
        assert server.requests[-1].path == "/wp-json/mwai-ui/v1/chats/submit"


@pytest.mark.parametrize("ajax_url", ["http://[::1/admin-ajax.php", "http://127.0.0.1:99999/a.php", "//"])
def test_an_odd_ajax_url_in_the_page_script_falls_back_to_the_site(ajax_url):
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            script_tag = f'<script>var wpaicgParams = {{"ajax_url":"{ajax_url}"}};</script>'
            conn.send(response(body=power_page(server.url) + script_tag.encode()))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        assert server.requests[-1].path == "/wp-admin/admin-ajax.php"


@pytest.mark.parametrize("data_url", [" " + "http://s.example/chat/", "http://s.example/a\tb/", "\x7f"])
def test_a_data_url_with_spaces_or_control_characters_still_sends(data_url):
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url, data_url=data_url)))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        referer = server.requests[-1].headers["referer"]
        assert referer.isprintable() and " " not in referer and "\t" not in referer


_JUNK_EVENTS = b"retry: soon\nid\x00: \xff\xfe\n\ndata: {\"choices\": 5}\n\n"
_BROKEN_ANSWERS = {
    "bad status line": b"HTTP/1.1 abc OK\r\n\r\n",
    "not http at all": b"SSH-2.0-OpenSSH_9.6\r\n",
    "bad content length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: x\r\n\r\n{}",
    "short body": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}",
    "bad chunk size": stream_head() + b"zz\r\ndata: x\r\n",
    "bad gzip": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                b"Content-Length: 9\r\n\r\nnot gzip!",
    "huge header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    "many headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
    "nothing": b"",
    "odd retry-after": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1e999\r\n"
                       b"Content-Length: 0\r\n\r\n",
    "odd charset": b"HTTP/1.1 500 Oops\r\nContent-Type: text/html; charset=no-such\r\n"
                   b"Content-Length: 2\r\n\r\n\xff\xfe",
    "event stream of junk": stream_head() + chunk(_JUNK_EVENTS) + LAST_CHUNK,
}


@pytest.mark.parametrize("name", sorted(_BROKEN_ANSWERS))
def test_a_broken_answer_to_the_message_is_a_provider_error(name):
    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
        else:
            conn.send(_BROKEN_ANSWERS[name])
            conn.close()

    with RawServer(script) as server, pytest.raises(errors.ProviderError):
        AIPower(server.url, retry_policy=no_retry_waits(), timeout=5).complete("Hi")


# -- 11. the nonce lock and deadlines; a refresh skips caches -------------------------------


def test_a_call_waiting_for_another_threads_nonce_fetch_keeps_its_own_deadline():
    fetching = threading.Event()
    release = threading.Event()
    answered = threading.Event()

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            fetching.set()
            release.wait(3)
            conn.send(response(body=power_page(server.url)))
            answered.set()
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        bot = AIPower(server.url)
        first: List[object] = []
        thread = threading.Thread(target=lambda: first.append(bot.complete("Hi")))
        thread.start()
        assert fetching.wait(5)
        bot.total_timeout = 0.5  # the next call has half a second; the first has no limit
        with pytest.raises(errors.TimeoutError) as info:
            bot.complete("Hi too")
        assert info.value.phase == "total"
        assert not answered.is_set()  # it gave up while the other thread was still fetching
        release.set()
        thread.join(5)
        assert first == ["Hello"]


def test_a_nonce_refresh_asks_caches_for_a_fresh_page():
    def script(request: Request, conn: Connection) -> None:
        pages = len(server.paths("GET"))
        if request.method == "GET":
            conn.send(response(body=power_page(server.url, NONCE if pages == 1 else FRESH_NONCE),
                               headers={"Cache-Control": "max-age=3600"}))
        elif request.form["_wpnonce"] != FRESH_NONCE:
            conn.send(json_response({"status": "error", "msg": "Nonce verification failed"}))
        else:
            conn.send(json_response({"status": "success", "msg": "", "data": "Hello"}))

    with RawServer(script) as server:
        assert AIPower(server.url).complete("Hi") == "Hello"
        first, refresh = [r for r in server.requests if r.method == "GET"]
        assert "no-cache" not in first.headers.get("cache-control", "")
        assert refresh.headers["cache-control"] == "no-cache"
        assert refresh.headers["pragma"] == "no-cache"


# -- one deadline for the whole call, whatever the framing ---------------------------------


@pytest.mark.parametrize("framing", ["chunked", "close-delimited", "gzip close-delimited", "gzip chunked"])
def test_total_timeout_ends_a_quiet_stream_on_every_framing(framing):
    import zlib

    client_gave_up = threading.Event()

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=power_page(server.url)))
            return
        body = power_events("Hel")
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        if framing.startswith("gzip"):
            head += "Content-Encoding: gzip\r\n"
            packer = zlib.compressobj(wbits=31)
            body = packer.compress(body) + packer.flush(zlib.Z_SYNC_FLUSH)
        if framing.endswith("chunked"):
            conn.send((head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunk(body))
        else:
            conn.send((head + "Connection: close\r\n\r\n").encode() + body)
        if conn.wait_for_client_close(timeout=20):  # quiet until the client gives up
            client_gave_up.set()
        conn.close()

    with RawServer(script) as server:
        bot = AIPower(server.url, timeout=(3, 30), total_timeout=0.5, retries=0)
        with pytest.raises(errors.TimeoutError) as info:
            bot.complete("Hi")
        assert info.value.phase == "total" and "total_timeout=0.5" in str(info.value)
        assert info.value.partial_text == "Hel"
        assert client_gave_up.wait(5)



@pytest.mark.parametrize("framing", ["chunked", "close-delimited", "gzip close-delimited"])
def test_the_deadline_reaches_the_socket_of_every_framing(framing):
    # Each read is bounded by what is left of total_timeout through the socket's timeout;
    # a close-delimited body's connection lets go of its socket, so it is found by the reader.
    from chatgpt_providers.core.transport import _socket_of

    def script(request: Request, conn: Connection) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        if framing.startswith("gzip"):
            head += "Content-Encoding: gzip\r\n"
        tail = "Transfer-Encoding: chunked\r\n\r\n" if framing == "chunked" else "Connection: close\r\n\r\n"
        conn.send((head + tail).encode())
        conn.wait_for_client_close(timeout=10)

    with RawServer(script) as server:
        transport = Transport()
        answer = transport.request("GET", server.url, stream=True)
        sock = _socket_of(answer.raw)
        assert sock is not None
        server_side = server._connections[0].sock.getpeername()
        assert sock.getsockname() == server_side
        answer.close()
