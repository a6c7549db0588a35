"""Wire details of the older plugin eras against a raw-socket server that does what the real
releases do, so the stand-in cannot share a misreading with the client."""

import json

from rawserver import LAST_CHUNK, Connection, RawServer, Request, chunk, json_response, response, stream_head

from chatgpt_providers import AIEngine, ChatGptt, connect

NONCE = "5e6f7a8b9c"


def _no_route() -> bytes:
    return json_response({"code": "rest_no_route", "message": "No route was found matching the URL "
                          "and request method.", "data": {"status": 404}}, "404 Not Found")


def test_era_d_guest_sends_no_nonce_header_on_the_wire():
    system = ('{"botId":"default","customId":null,"userData":null,"sessionId":null,'
              '"restNonce":null,"contextId":12,"restUrl":"REST","stream":true}')

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            page = ("<div class='mwai-chatbot-container' data-system='"
                    + system.replace("REST", server.url + "/wp-json").replace('"', "&quot;") + "'></div>")
            conn.send(response(body=page.encode()))
        elif request.path.endswith("/start_session"):
            conn.send(_no_route())
        elif "x-wp-nonce" in request.headers:  # WordPress checks any nonce it is given
            conn.send(json_response({"code": "rest_cookie_invalid_nonce", "message": "Cookie check failed",
                                     "data": {"status": 403}}, "403 Forbidden"))
        else:
            conn.send(stream_head("text/event-stream;charset=UTF-8")
                      + chunk(b'data: {"type":"live","data":"Hel"}\n\n')
                      + chunk(b'data: {"type":"end","data":'
                              b'"{\\"success\\":true,\\"reply\\":\\"Hello\\"}"}\n\n')
                      + LAST_CHUNK)

    with RawServer(script) as server:
        assert connect(server.url + "/").complete("Hi") == "Hello"
        sent = server.requests[-1]
        assert sent.path == "/wp-json/mwai-ui/v1/chats/submit" and "x-wp-nonce" not in sent.headers
        assert json.loads(sent.body)["contextId"] == 12
        assert [r.path for r in server.requests[:2]] == ["/", "/wp-json/mwai/v1/start_session"]


def test_era_c_json_answer_in_one_piece_and_the_exact_body():
    system = ('{"id":"c-1","chatId":"support","userData":null,"sessionId":"64a0b1c2d3e4f",'
              '"restNonce":"NONCE","contextId":7,"restUrl":"REST","debugMode":false}')
    answer = {"success": True, "reply": "Hello there", "images": None,
              "html": "<p>Hello there</p>", "usage": {"total_tokens": 9}}

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            page = ("<div class='mwai-chatbot-container' data-system='"
                    + system.replace("REST", server.url + "/wp-json").replace("NONCE", NONCE)
                    .replace('"', "&quot;") + "'></div>")
            conn.send(response(body=page.encode()))
        elif request.path == "/wp-json/mwai-bot/v1/chat":
            conn.send(json_response(answer))
        else:
            conn.send(_no_route())

    with RawServer(script) as server:
        bot = connect(server.url + "/")
        assert list(bot.stream([{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Yo"},
                                {"role": "user", "content": "Again"}])) == ["Hello there"]
        assert bot.reply("x").usage == {"total_tokens": 9}
        assert server.paths() == ["/", "/wp-json/mwai-bot/v1/chat", "/wp-json/mwai-bot/v1/chat"]
        sent = server.requests[1]
        body = json.loads(sent.body)
        assert body == {"id": "c-1", "chatId": "support", "session": "64a0b1c2d3e4f",
                        "clientId": body["clientId"], "contextId": 7,
                        "messages": [{"role": "user", "content": "Hi"},
                                     {"role": "assistant", "content": "Yo"}],
                        "newMessage": "Again"}
        assert sent.headers["x-wp-nonce"] == NONCE


def test_legacy_page_as_php_printed_it():
    page = f"""<div class="mwai-chat" id="mwai-chat-637e"><div class="mwai-content"></div></div>
<script>
  (function () {{
    let isMobile = window.matchMedia('(max-width: 760px)').matches;
    let restNonce = '{NONCE}';
    let apiURL = 'APIURL';
    let sessionId = '637e4f5a6b7c8';
    let env = 'chatbot';
    let context = "Converse as if you were Meow, a cat. Say \\"meow\\" often.";
    let userName = '<div class="mwai-name-text">You</div>';
    let aiName = 'Meow: ';
    let model = 'text-davinci-003';
    let temperature = 0.5;
    let maxTokens = 512;
    let maxResults = 1;
    let apiKey = '';
    let service = 'openai';
    let embeddingsIndex = '';
    let stop = '';
  }})();
</script>"""

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            api_url = server.url + "/wp-json/ai-chatbot/v1/chat"
            conn.send(response(body=page.replace("APIURL", api_url).encode()))
        elif request.path == "/wp-json/ai-chatbot/v1/chat":
            conn.send(json_response({"success": True, "reply": "Meow!", "html": "<p>Meow!</p>",
                                     "usage": {"total_tokens": 3}}))
        else:
            conn.send(_no_route())

    with RawServer(script) as server:
        bot = AIEngine(server.url)
        assert bot.complete([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Meow."},
                             {"role": "user", "content": "Who are you?"}]) == "Meow!"
        assert server.paths() == ["/", "/wp-json/ai-chatbot/v1/chat"]  # no start_session asked
        sent = server.requests[-1]
        body = json.loads(sent.body)
        you = '<div class="mwai-name-text">You</div>'
        assert body["prompt"] == ('Converse as if you were Meow, a cat. Say "meow" often.\n'
                                  f"{you}Hi\nMeow: Meow.\n{you}Who are you?\nMeow: ")
        assert (body["model"], body["temperature"], body["maxTokens"]) == ("text-davinci-003", 0.5, 512)
        assert body["userName"] == you and body["session"] == "637e4f5a6b7c8"
        assert sent.headers["x-wp-nonce"] == NONCE
        assert sent.headers["content-type"] == "application/json"


def test_ai_power_1_8_stream_ends_at_done_though_raw_json_follows_and_the_socket_stays_open():
    page = (f'<div class="wpaicg-chat-shortcode" data-nonce="{NONCE}" data-post-id="3" '
            'data-url="/" data-bot-id="0" data-type="shortcode"></div>')
    tail = b'{"status":"success","msg":"","data":"Hello","log":7}'

    def script(request: Request, conn: Connection) -> None:
        if request.method == "GET":
            conn.send(response(body=page.encode()))
            return
        assert request.form["_wpnonce"] == NONCE
        # As 1.8.79 sends it: close-delimited, [DONE], the handler's JSON, and the PHP script
        # still running (the socket is not closed).
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                  b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
                  b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
                  b"data: [DONE]\n\n" + tail)
        conn.wait_for_client_close(30)
        conn.close()

    with RawServer(script) as server:
        bot = ChatGptt(base_url=server.url, timeout=(5, 20))
        assert bot.complete("Hi") == "Hello"
        assert bot.complete("Hi again") == "Hello"  # not the raw JSON, and no wait for the close
        assert server.accepted == 2  # a close-delimited answer is not reused: a new connection
