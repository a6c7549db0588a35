"""Every request a page directs the client to stays on the site's origin (scheme, host and
port), in every protocol; anything else is a CrossOriginError naming both origins, raised
before a byte is sent there. Over real sockets (two raw servers on two ports) and, for https
sites, with recorded responses."""

import pytest
import responses as responses_lib
from rawserver import Connection, RawServer, Request, json_response, response

from chatgpt_providers import AIEngine, AIPKit, AIPower, CrossOriginError, ResponseError

NONCE = "054d4dd8dd"


def aipkit_page(ajax_url: str) -> bytes:
    return (f'<div class="aipkit_chat_container" data-bot-id="5" data-config=\'{{&quot;botId'
            f'&quot;:5,&quot;ajaxUrl&quot;:&quot;{ajax_url}&quot;,&quot;nonce&quot;:&quot;{NONCE}'
            f'&quot;,&quot;postId&quot;:0}}\'></div>').encode()


def engine_page(rest_url: str) -> bytes:
    return ("<div class='mwai-chatbot-container' data-system='{&quot;botId&quot;:&quot;default"
            f"&quot;,&quot;restNonce&quot;:&quot;{NONCE}&quot;,&quot;restUrl&quot;:&quot;"
            f"{rest_url}&quot;,&quot;stream&quot;:true}}'></div>").encode()


def elsewhere(request: Request, conn: Connection) -> None:
    conn.send(json_response({"success": True, "data": {"cache_key": "k"}}))


@pytest.mark.parametrize("plugin", ["AIPKit", "AIEngine"])
def test_a_page_naming_another_port_gets_nothing_sent_there(plugin):
    with RawServer(elsewhere) as other:
        def site(request: Request, conn: Connection) -> None:
            if plugin == "AIPKit":
                conn.send(response(body=aipkit_page(other.url + "/wp-admin/admin-ajax.php")))
            elif request.path == "/":
                conn.send(response(body=engine_page(other.url + "/wp-json")))
            else:  # no start_session at the site's own REST root: the page's restUrl is next
                conn.send(json_response({"code": "rest_no_route"}, "404 Not Found"))

        with RawServer(site) as server:
            bot = AIPKit(server.url) if plugin == "AIPKit" else AIEngine(server.url)
            with pytest.raises(CrossOriginError) as info:
                bot.complete("my card number is 4111-1111")
            message = str(info.value)
            assert server.url in message and other.url in message
            assert isinstance(info.value, ResponseError)
            assert other.requests == []  # neither the message nor the nonce went there


@responses_lib.activate
def test_an_https_site_never_sends_to_plain_http_on_another_port():
    responses_lib.add(responses_lib.GET, "https://site.example/",
                      body=aipkit_page("http://site.example:8080/wp-admin/admin-ajax.php"))
    with pytest.raises(CrossOriginError) as info:
        AIPKit("https://site.example").complete("Hi")
    assert "http://site.example:8080" in str(info.value) and "https://site.example" in str(info.value)
    assert [call.request.url for call in responses_lib.calls] == ["https://site.example/"]


@responses_lib.activate
def test_an_https_site_never_downgrades_to_http_on_the_same_host():
    responses_lib.add(responses_lib.GET, "https://site.example/",
                      body=aipkit_page("http://site.example/wp-admin/admin-ajax.php"))
    with pytest.raises(CrossOriginError):
        AIPKit("https://site.example").complete("Hi")
    assert len(responses_lib.calls) == 1


@responses_lib.activate
def test_the_upgrade_from_http_to_https_on_the_same_host_is_followed():
    responses_lib.add(responses_lib.GET, "http://site.example/",
                      body=aipkit_page("https://site.example/wp-admin/admin-ajax.php"))
    responses_lib.add(responses_lib.POST, "https://site.example/wp-admin/admin-ajax.php",
                      json={"success": True, "data": {"cache_key": "aipkit_sse_k"}})
    responses_lib.add(responses_lib.GET, "https://site.example/wp-admin/admin-ajax.php",
                      body=b'data: {"delta":"Hello"}\n\nevent: done\ndata: {"finished":true}\n\n',
                      content_type="text/event-stream")
    assert AIPKit("http://site.example").complete("Hi") == "Hello"


@responses_lib.activate
def test_a_page_on_another_origin_given_as_page_is_refused():
    with pytest.raises(CrossOriginError):
        AIPower("https://site.example", page="https://other.example/chat/").complete("Hi")
    assert len(responses_lib.calls) == 0
