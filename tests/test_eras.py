"""Every plugin release era (docs/protocols/versions.md) over real sockets: the stand-in's
``plugin@release`` modes, with what the client sent checked, and ``connect(url)`` then
``complete``, ``stream`` and a two-turn conversation on each era's page."""

import pytest

from chatgpt_providers import (
    AIEngine,
    Chatgpt4Online,
    ChatGptt,
    NonceError,
    ResponseError,
    UnsupportedSiteError,
    connect,
    detect,
)
from chatgpt_providers.testing import LocalSite
from chatgpt_providers.testing.ai_engine import LEGACY_SETTINGS

#: spec -> the route a message goes to on that era
ERAS = {
    "ai-engine@0.6.8": "legacy_chat",     # era A, ai-engine/v1/chat
    "ai-engine@1.4.0": "legacy_chat",     # era B, ai-chatbot/v1/chat
    "ai-engine@1.6.75": "bot_chat",       # era C
    "ai-engine@1.9.99": "submit",         # era D
    "ai-engine@2.4.3": "submit",          # era E
    "ai-engine@3.7.2": "submit",          # era F
    "ai-power@1.8.79": "ajax",            # L0
    "ai-power@1.9.8": "ajax",             # L1
    "ai-power@2.2": "ajax",
    "aipkit@2.3": "aipkit_stream",
    "aipkit@2.4.1": "aipkit_stream",
    "aipkit@2.4.95": "aipkit_stream",
}
CHAT_ROUTES = set(ERAS.values())


def chats(site):
    return [r for r in site.requests if r.route in CHAT_ROUTES]


@pytest.mark.parametrize("spec", list(ERAS))
def test_connect_complete_stream_and_a_conversation_on_every_era(spec):
    with LocalSite(plugins=(spec,), delay=0.001) as site:
        bot = connect(site.url + "/chat/")
        assert bot.complete("Hi") == "Echo: Hi"
        pieces = list(bot.stream("one two three"))
        assert "".join(pieces) == "Echo: one two three"
        chat = bot.conversation()
        assert chat.ask("My name is Bob") == "Echo: My name is Bob"
        second = chat.ask("What is my name?")
        # the site saw the first turn: native history, folded transcript or server-side log
        assert second.startswith("Echo: What is my name?") or "My name is Bob" in second
        assert "history: 2 turns" in second or "My name is Bob" in second
        assert chats(site)[-1].route == ERAS[spec]
        assert "no_route" not in site.routes()[-2:]


@pytest.mark.parametrize("spec", [s for s in ERAS if s.startswith("ai-engine@")])
def test_ai_engine_streams_only_where_the_era_streams(spec):
    with LocalSite(plugins=(spec,), delay=0.001) as site:
        pieces = list(connect(site.url + "/").stream("one two three"))
    one_piece = ERAS[spec] in ("legacy_chat", "bot_chat")
    assert (len(pieces) == 1) is one_piece and "".join(pieces) == "Echo: one two three"


def test_era_d_sends_no_nonce_header_and_a_wrong_one_is_refused():
    with LocalSite(plugins=("ai-engine@1.9.99",), delay=0) as site:
        bot = Chatgpt4Online(base_url=site.url)  # a preset: start_session first, as on 3.x
        assert bot.complete("Hi") == "Echo: Hi"
        assert site.routes() == ["no_route", "page", "submit"]
        sent = site.requests[-1]
        assert "X-WP-Nonce" not in sent.headers and "x-wp-nonce" not in {k.lower() for k in sent.headers}
        body = sent.json
        assert (body["botId"], body["newMessage"], body["stream"]) == ("default", "Hi", True)
        assert bot.complete("again") == "Echo: again"
        assert site.routes()[-1] == "submit"  # one request per turn after the first
        # The plugin checks any nonce it is given, even for a guest.
        stray = AIEngine(site.url, headers={"X-WP-Nonce": "0123456789"}, retries=0)
        with pytest.raises(Exception) as info:
            stray.complete("Hi")
        assert site.requests[-1].status == 403 and "nonce" in str(info.value).lower()


def test_era_e_requires_the_page_nonce():
    with LocalSite(plugins=("ai-engine@2.0",), delay=0) as site:
        assert AIEngine(site.url).complete("Hi") == "Echo: Hi"
        assert site.requests[-1].headers["X-WP-Nonce"] == site.engine_nonce
        site.clear_log()
        site.expire_nonces()  # a refused nonce: the page is read again (past caches)
        bot = AIEngine(site.url, page="/chat/")
        assert bot.complete("Hi") == "Echo: Hi"
        site.expire_nonces()
        assert bot.complete("again") == "Echo: again"
        assert [r.status for r in site.requests if r.route == "submit"] == [200, 403, 200]


def test_era_c_body_is_exactly_what_the_page_script_sends():
    with LocalSite(plugins=("ai-engine@1.6.75",), delay=0) as site:
        bot = connect(site.url + "/")
        assert bot.complete([{"role": "user", "content": "Hi"},
                             {"role": "assistant", "content": "Echo: Hi"},
                             {"role": "user", "content": "More"}]) == \
            "Echo: More (history: 2 turns, last: Echo: Hi)"
        sent = site.requests[-1]
        assert sent.path == "/wp-json/mwai-bot/v1/chat" and sent.method == "POST"
        body = sent.json
        assert list(body) == ["id", "chatId", "session", "clientId", "contextId", "messages",
                              "newMessage"]
        assert body["id"] is None and body["chatId"] == "default"
        assert body["session"] == "6745f0c2a1b3e" and body["contextId"] == 58
        assert len(body["clientId"]) == 10 and body["clientId"].isalnum()
        assert body["messages"] == [{"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": "Echo: Hi"}]
        assert body["newMessage"] == "More"
        assert sent.headers["X-WP-Nonce"] == site.engine_nonce
        assert sent.headers["Accept"] == "application/json"
        assert bot.complete("x") and site.requests[-1].json["clientId"] == body["clientId"]
        # era C has no mwai-ui routes: a client told to use them gets the 404 named
        assert "mwai-ui" not in " ".join(r.path for r in site.requests)


@pytest.mark.parametrize("release, route", [("0.6.8", "ai-engine/v1/chat"),
                                            ("1.4.0", "ai-chatbot/v1/chat")])
def test_legacy_page_transcript_and_settings(release, route):
    with LocalSite(plugins=(f"ai-engine@{release}",), delay=0) as site:
        bot = connect(site.url + "/")
        messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Echo: Hi"},
                    {"role": "user", "content": "And you?"}]
        assert bot.complete(messages) == "Echo: And you? (history: 2 turns, last: Echo: Hi)"
        sent = site.requests[-1]
        assert sent.path == f"/wp-json/{route}"
        body = sent.json
        context = LEGACY_SETTINGS["context"]
        assert body["prompt"] == f"{context}\nUser: Hi\nAI: Echo: Hi\nUser: And you?\nAI: "
        assert body["newMessage"] == "And you?" and body["session"] == "6745f0c2a1b3e"
        for name, value in LEGACY_SETTINGS.items():  # the page's own values, typed as there
            assert body[name] == value, name
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert sent.headers["X-WP-Nonce"] == site.engine_nonce
        assert set(body) == {"env", "session", "prompt", "context", "messages", "newMessage",
                             "userName", "aiName", "model", "temperature", "maxTokens",
                             "maxResults", "apiKey", "service", "embeddingsIndex", "stop",
                             "clientId"}


def test_mwai_ui_routes_do_not_exist_on_1_6():
    with LocalSite(plugins=("ai-engine@1.6",), delay=0) as site:
        import requests

        answer = requests.post(site.url + "/wp-json/mwai-ui/v1/chats/submit", json={}, timeout=5)
        assert answer.status_code == 404 and answer.json()["code"] == "rest_no_route"
        session = requests.post(site.url + "/wp-json/mwai/v1/start_session", timeout=5)
        assert session.status_code == 404


def test_a_404_from_the_route_the_page_named_names_the_route():
    # The page (era D markup, cached) names chats/submit; the site now runs 1.6: no such route.
    with LocalSite(plugins=("ai-engine@1.9",), delay=0) as newer, \
            LocalSite(plugins=("ai-engine@1.6",), delay=0) as older:
        bot = AIEngine(older.url, retries=0)
        bot._handed_page = (bot.page_url, _page(newer).replace(newer.url, older.url))
        with pytest.raises(UnsupportedSiteError) as info:
            bot.complete("Hi")
    error = info.value
    assert not isinstance(error, NonceError) and error.status_code == 404
    assert "/wp-json/mwai-ui/v1/chats/submit" in str(error) and "404" in str(error)
    assert "unable to extract" not in str(error).lower()


def test_legacy_page_whose_api_url_is_gone():
    with LocalSite(plugins=("ai-engine@1.0",), delay=0) as site:
        bot = AIEngine(site.url, retries=0)
        page = _page(site).replace("ai-chatbot/v1/chat", "ai-chatbot/v9/chat")
        bot._handed_page = (bot.page_url, page)
        with pytest.raises(UnsupportedSiteError, match=r"ai-chatbot/v9/chat .*apiURL.* 404"):
            bot.complete("Hi")


def _page(site):
    import requests

    return requests.get(site.url + "/", timeout=5).text


# -- AI Power --------------------------------------------------------------------------------

def test_ai_power_1_8_takes_a_form_post_and_stops_at_done_before_the_raw_result():
    with LocalSite(plugins=("ai-power@1.8.79",), delay=0) as site:
        bot = ChatGptt(base_url=site.url)
        assert bot.complete("Hi") == "Echo: Hi"
        assert bot.complete("Hi again") == "Echo: Hi again"
        assert site.requests[-1].form["message"] == "Hi again"
        assert site.routes() == ["page", "ajax", "ajax"]  # the raw tail was not read as text
        site.expire_nonces()  # 1.8.79 refuses a nonce with HTTP 200 JSON: refreshed from the page
        assert bot.complete("later") == "Echo: later"
        assert site.routes()[-3:] == ["ajax", "page", "ajax"]


def test_aipkit_2_3_renews_a_refused_nonce_from_the_page():
    with LocalSite(plugins=("aipkit@2.3",), delay=0) as site:
        bot = ChatGptt(base_url=site.url)
        assert bot.complete("Hi") == "Echo: Hi"
        site.expire_nonces()
        site.clear_log()
        assert bot.complete("again") == "Echo: again"
        assert site.routes() == ["aipkit_cache", "aipkit_nonce", "page", "aipkit_cache",
                                 "aipkit_stream"]
        assert [r.status for r in site.requests[:2]] == [403, 400]  # no refresh action on 2.3
        assert "bot_id" in site.requests[-2].form  # what 2.3.31+ sends; 2.3 ignores it


def test_aipkit_2_4_refuses_a_missing_nonce():
    with LocalSite(plugins=("aipkit@2.4.71",), delay=0) as site:
        import requests

        answer = requests.post(site.url + "/wp-admin/admin-ajax.php", timeout=5,
                               data={"action": "aipkit_cache_sse_message", "message": "Hi"})
        assert answer.status_code == 403
        assert answer.json()["data"]["code"] == "nonce_failure_cache_sse"


# -- detect() --------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, name, era", [
    ("ai-engine@0.6", "AI Engine", "the legacy [mwai_chat] page, one JSON answer"),
    ("ai-engine@1.6.75", "AI Engine", "mwai-bot/v1/chat, one JSON answer"),
    ("ai-engine@1.9.99", "AI Engine", "chats/submit without a nonce"),
    ("ai-engine@2.4.3", "AI Engine", "chats/submit with the page's nonce"),
    ("ai-engine@3.6.2", "AI Engine", "chats/submit with a start_session nonce"),
    ("ai-power@1.8.79", "AI Power 1.8.79", "form POST (1.8: a GET works too), the stream ends at [DONE]"),
    ("ai-power@2.2", "AI Power 2.2", "form POST, streamed or JSON as the site decides"),
    ("aipkit@2.3", "AI Power 2.3", "cache POST + SSE stream, a fresh nonce from the page"),
    ("aipkit@2.4.71", "AI Power 2.4.71", "cache POST + SSE stream, a fresh nonce from the refresh action"),
])
def test_detect_reports_the_version_from_the_plugin_script_and_the_era(spec, name, era):
    with LocalSite(plugins=(spec,), delay=0) as site:
        found = detect(site.url + "/")
        page = _page(site)
    assert (found.name, found.era) == (name, era)
    assert "?ver=1787344627" in page or "?ver=1700194369" in page  # a file time was there to misread
    if spec.startswith("ai-engine"):
        assert found.version is None  # its scripts carry file times, not versions


def test_detect_cli_prints_the_era():
    import subprocess
    import sys

    with LocalSite(plugins=("ai-engine@1.9.99",), delay=0) as site:
        done = subprocess.run([sys.executable, "-m", "chatgpt_providers", "detect", site.url + "/"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "AI Engine, chats/submit without a nonce" in done.stdout


# -- the stand-in is as strict as the plugins about pages and bots (issue 19, point 9) --------

def test_a_wrong_page_is_a_404_and_a_typed_error_naming_it():
    with LocalSite(delay=0) as site:
        for client in (ChatGptt(base_url=site.url, page="/nope/", retries=0),
                       AIEngine(site.url, page="/nope/", retries=0)):
            with pytest.raises(ResponseError) as info:
                client.complete("Hi")
            assert info.value.status_code == 404 and "/nope/: no such page" in str(info.value)
            assert "page=" in str(info.value) and "nonce" not in str(info.value).lower()
        with pytest.raises(ResponseError):
            detect(site.url + "/nope/")
        assert site.requests[-1].status == 404


@pytest.mark.parametrize("spec", ["ai-engine@1.6.75", "ai-engine@1.9.99", "ai-engine@2.4.3"])
def test_a_wrong_bot_on_a_page_read_era_names_the_bots_the_page_has(spec):
    with LocalSite(plugins=(spec,), delay=0) as site:
        with pytest.raises(NonceError, match=r"shows no AI Engine bot 'nope'.*'default'.*bot_id="):
            AIEngine(site.url, bot_id="nope", retries=0).complete("Hi")
        assert not chats(site)  # nothing was sent


def test_a_wrong_legacy_ai_power_bot_names_the_bots_the_page_has():
    with LocalSite(plugins=("ai-power@2.2",), delay=0) as site:
        with pytest.raises(NonceError, match=r"shows no AI Power bot 'nope'; it shows '0': pass bot_id="):
            ChatGptt(base_url=site.url, bot_id="nope").complete("Hi")
        assert site.routes() == ["page"]


def test_era_f_answers_an_unknown_bot_with_the_default_one_as_the_plugin_does():
    # AI Engine 3.6.2 / 3.7.2 fall back to the default bot: the stand-in does too.
    with LocalSite(plugins=("ai-engine@3.7.2",), delay=0) as site:
        assert AIEngine(site.url, bot_id="nope").complete("Hi") == "Echo: Hi"
        assert site.requests[-1].json["botId"] == "nope"


def test_a_wrong_aipkit_bot_is_refused_by_the_stand_in_as_by_the_plugin():
    with LocalSite(plugins=("aipkit",), delay=0) as site:
        from chatgpt_providers import AIPKit

        with pytest.raises(NonceError, match="bot 99.*bot_id="):
            AIPKit(site.url, bot_id=99).complete("Hi")
        import requests

        key = requests.post(site.url + "/wp-admin/admin-ajax.php", timeout=5, data={
            "action": "aipkit_cache_sse_message", "_ajax_nonce": site.aipkit_nonce,
            "message": "Hi"}).json()["data"]["cache_key"]
        stream = requests.get(site.url + "/wp-admin/admin-ajax.php", timeout=5, params={
            "action": "aipkit_frontend_chat_stream", "cache_key": key, "bot_id": "99",
            "session_id": "s", "conversation_uuid": "c", "_ajax_nonce": site.aipkit_nonce})
        assert "Invalid chatbot specified." in stream.text


# -- the stand-in's release settings ---------------------------------------------------------

@pytest.mark.parametrize("plugins, says", [
    (("ai-engine@1.6", "ai-engine@1.9"), "one release of a plugin"),
    (("ai-engine@latest",), "dotted version"),
    (("ai-power@1.7",), "1.8 and later"),
    (("wordpress@6.4",), "plugins are"),
])
def test_release_settings_that_cannot_be_served_say_why(plugins, says):
    with pytest.raises(ValueError, match=says):
        LocalSite(plugins=plugins)



def test_serve_runs_one_site_per_release_and_each_speaks_its_era():
    import re
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "chatgpt_providers", "serve", "--port", "0", "--delay", "0",
         "--plugins", "ai-engine@1.6,ai-engine@1.9,ai-power@1.8,aipkit@2.3"],
        stdout=subprocess.PIPE, text=True)
    try:
        first, second = server.stdout.readline(), server.stdout.readline()
        assert "(ai-engine@1.6, ai-power@1.8, aipkit@2.3)" in first and "(ai-engine@1.9)" in second
        urls = [re.search(r"http://127\.0\.0\.1:\d+", line).group(0) for line in (first, second)]
        assert detect(urls[0] + "/").era == "mwai-bot/v1/chat, one JSON answer"
        assert detect(urls[1] + "/").era == "chats/submit without a nonce"
        assert AIEngine(urls[1]).complete("Hi") == "Echo: Hi"
        assert ChatGptt(base_url=urls[0]).complete("Hi") == "Echo: Hi"  # 2.3+ shown first
    finally:
        server.terminate()
        server.wait(10)


def test_serve_refuses_a_release_it_cannot_serve_in_the_option_s_words():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "chatgpt_providers", "serve", "--port", "0",
                           "--plugins", "ai-engine@latest"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage: chatgpt-providers serve" in done.stderr
    error = done.stderr.strip().splitlines()[-1]  # the usage, then the error on one line
    assert "--plugins" in error and "dotted version" in error and "Traceback" not in done.stderr


def test_a_2_3_bot_with_streaming_off_still_streams_through_the_sse_path():
    """2.3 - 2.4.0: a bot with streaming off makes browsers use a JSON action; the stream still
    serves it, so the client keeps one protocol (and 2.4.1 removed that action)."""
    import html

    import requests

    with LocalSite(plugins=("aipkit@2.3",), ai_power_stream=False, delay=0) as site:
        page = html.unescape(_page(site))
        assert '"streamEnabled": false' in page
        bot = ChatGptt(base_url=site.url)
        assert list(bot.stream("one two")) == ["Echo: ", "one ", "two"]
        assert site.routes()[-2:] == ["aipkit_cache", "aipkit_stream"]
        answer = requests.post(site.url + "/wp-admin/admin-ajax.php", timeout=5, data={
            "action": "aipkit_frontend_chat_message", "message": "Hi", "bot_id": "5"})
        assert answer.json()["data"]["reply"] == "Echo: Hi"  # no nonce checked before 2.3.20
    with LocalSite(plugins=("aipkit@2.4.1",), ai_power_stream=False, delay=0) as site:
        assert "streamEnabled" not in html.unescape(_page(site))
        gone = requests.post(site.url + "/wp-admin/admin-ajax.php", timeout=5, data={
            "action": "aipkit_frontend_chat_message", "message": "Hi", "bot_id": "5"})
        assert (gone.status_code, gone.text) == (400, "0")
