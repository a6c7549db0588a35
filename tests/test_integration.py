"""Both clients against the built-in stand-in over 127.0.0.1: no mocks."""

import pytest

from chatgpt_providers import (
    AIEngine,
    AIPower,
    AuthenticationError,
    BlockedError,
    Chatgpt4Online,
    ChatGptt,
    RateLimitError,
    RejectedError,
    ResponseError,
    ServerError,
    StreamInterruptedError,
    TimeoutError,
    UnsupportedSiteError,
)
from chatgpt_providers.testing import LocalSite, make_reply

PROVIDERS = [Chatgpt4Online, ChatGptt]
FRAMINGS = ["chunked", "close"]
SESSION_ROUTE = {Chatgpt4Online: "session", ChatGptt: "page"}
CHAT_ROUTE = {Chatgpt4Online: "submit", ChatGptt: "ajax"}


@pytest.fixture(params=FRAMINGS)
def framed_site(request):
    with LocalSite(delay=0.001, framing=request.param) as stand_in:
        yield stand_in


def checked_out(bot):
    """Connections taken from the client's pools and not given back."""
    total = 0
    for adapter in bot.transport.session.adapters.values():
        pools = adapter.poolmanager.pools  # iterable only through keys()
        for key in pools.keys():  # noqa: SIM118
            pool = pools[key]
            total += pool.pool.maxsize - pool.pool.qsize()
    return total


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_and_complete(framed_site, provider):
    bot = provider(base_url=framed_site.url)
    assert "".join(bot.stream("Hello there, how are you?")) == "Echo: Hello there, how are you?"
    assert bot.complete("Привет 🙂") == "Echo: Привет 🙂"
    assert checked_out(bot) == 0


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_first_text_arrives_before_the_server_finishes(framing, provider):
    """Real streaming: text is yielded while the server is still writing events."""
    question = "one two three four five six seven eight nine ten"
    with LocalSite(delay=0.03, framing=framing) as site:
        stream = provider(base_url=site.url).stream(question)
        first = next(stream)
        record = [r for r in site.requests if r.route == CHAT_ROUTE[provider]][-1]
        written_at_first_text = record.events_written
        rest = "".join(stream)
    total_events = record.events_written
    assert first + rest == f"Echo: {question}"
    assert written_at_first_text < total_events - 5


def test_ai_power_json_mode_and_custom_bot():
    with LocalSite(ai_power_stream=False) as site:
        assert ChatGptt(base_url=site.url).complete("Hi") == "Echo: Hi"
    with LocalSite(ai_power_bot_id="4") as site:
        # the site streams for bot 4 only when the request names it, as real sites do
        assert list(ChatGptt(base_url=site.url).stream("a b c")) == ["Echo: ", "a ", "b ", "c"]
        form = site.requests[-1].form
        assert (form["bot_id"], form["chatbot_identity"]) == ("4", "custom_bot_4")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_multi_turn_history_reaches_the_server(site, provider):
    bot = provider(base_url=site.url)
    history = [{"role": "user", "content": 'First "quoted"\nline'}]
    answer = bot.complete(history)
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "Second"}]
    answer = bot.complete(history)
    assert answer.startswith("Echo: Second (history: 2 turns, last: Echo: First")
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "Third"}]
    assert "(history: 4 turns" in bot.complete(history)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nonce_reused_then_refreshed_once_when_it_expires(site, provider):
    bot = provider(base_url=site.url)
    for _ in range(5):
        bot.complete("Hi")
    assert site.routes().count(SESSION_ROUTE[provider]) == 1
    assert site.routes().count(CHAT_ROUTE[provider]) == 5
    site.expire_nonces()
    site.clear_log()
    assert bot.complete("Hi again") == "Echo: Hi again"
    assert site.routes() == [CHAT_ROUTE[provider], SESSION_ROUTE[provider], CHAT_ROUTE[provider]]


def test_rotated_nonce_is_adopted():
    with LocalSite(rotate_nonce=True) as site:
        bot = Chatgpt4Online(base_url=site.url)
        for index in range(4):
            assert bot.complete(f"turn {index}") == f"Echo: turn {index}"
        assert site.routes() == ["session"] + ["submit"] * 4


def test_sites_without_pretty_permalinks_or_start_session():
    with LocalSite(pretty_permalinks=False) as site:
        bot = AIEngine(site.url)  # bot id, REST address from the page
        assert bot.complete("Hi") == "Echo: Hi"
        assert "rest_route" in site.requests[-1].query
    with LocalSite(engine_start_session=False) as site:
        assert AIEngine(site.url, bot_id="default").complete("Hi") == "Echo: Hi"
        assert site.routes() == ["no_route", "page", "submit"]  # 404, then the page nonce


def test_generic_clients_and_connection_reuse(site):
    engine, power = AIEngine(site.url), AIPower(site.url, page="/")
    for _ in range(3):
        engine.complete("Hi")
        power.complete("Hi")
    assert site.connections == 2  # keep-alive: one connection per client


# -- faults ------------------------------------------------------------------------------

FAULTS = [
    # (fault, params, {provider: expected exception}, partial text expected?)
    ("error_event", {}, {Chatgpt4Online: ServerError, ChatGptt: ServerError}),
    ("drop", {}, {Chatgpt4Online: StreamInterruptedError, ChatGptt: StreamInterruptedError}),
    ("rate_limit", {"retry_after": 9}, {Chatgpt4Online: RateLimitError, ChatGptt: RateLimitError}),
    ("http_500", {}, {Chatgpt4Online: ServerError, ChatGptt: ServerError}),
    ("http_502", {}, {Chatgpt4Online: ServerError, ChatGptt: ServerError}),
    ("http_503", {}, {Chatgpt4Online: ServerError, ChatGptt: ServerError}),
    ("cloudflare", {}, {Chatgpt4Online: BlockedError, ChatGptt: BlockedError}),
    ("banned_word", {}, {Chatgpt4Online: RejectedError, ChatGptt: RejectedError}),
    ("token_limit", {}, {ChatGptt: RateLimitError}),
    ("banned_ip", {}, {ChatGptt: BlockedError}),
    ("limited", {}, {ChatGptt: ServerError}),
    ("unsupported", {}, {Chatgpt4Online: ResponseError, ChatGptt: UnsupportedSiteError}),
    ("stall", {"seconds": 3}, {Chatgpt4Online: TimeoutError, ChatGptt: TimeoutError}),
    ("endless_line", {"size": 8 * 1024 * 1024},
     {Chatgpt4Online: ResponseError, ChatGptt: ResponseError}),
]
CASES = [(f, p, prov, exc) for f, p, table in FAULTS for prov, exc in table.items()]


@pytest.mark.parametrize("fault, params, provider, error", CASES,
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_fault_matrix(framed_site, fault, params, provider, error):
    bot = provider(base_url=framed_site.url, timeout=(3, 0.5), retries=0)
    bot.complete("warm up")  # the nonce is cached; the fault hits the chat request
    framed_site.clear_log()
    if fault == "unsupported" and provider is ChatGptt:
        params = {"count": 2}  # once is taken for an upgrade: the page is read again first
    framed_site.inject(fault, **params)
    got = []
    with pytest.raises(error) as info:
        for text in bot.stream("one two three four five six"):
            got.append(text)
    exc = info.value
    assert exc.partial_text == "".join(got)
    assert exc.provider == provider.__name__
    assert exc.url and exc.url.startswith(framed_site.url)
    if fault in ("drop", "stall", "endless_line") or (fault == "error_event" and provider is Chatgpt4Online):
        assert exc.partial_text.startswith("Echo: one")  # text before the failure is kept
    if fault == "rate_limit":
        assert exc.retry_after == 9.0 and exc.status_code == 429
    expected = [CHAT_ROUTE[provider]]  # one request, nothing replayed
    if fault == "unsupported" and provider is ChatGptt:
        expected = ["ajax", "page", "ajax"]  # 400 '0': the page is read again, the site may have upgraded
    assert framed_site.routes() == expected
    assert checked_out(bot) == 0
    assert bot.complete("after") == "Echo: after"  # the pool is left usable


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["malformed_sse", "json_instead_of_sse"])
def test_tolerated_faults(framed_site, provider, fault):
    bot = provider(base_url=framed_site.url)
    framed_site.inject(fault)
    assert bot.complete("still fine") == "Echo: still fine"


def test_sse_instead_of_json():
    with LocalSite(ai_power_stream=False) as site:
        site.inject("sse_instead_of_json")
        assert ChatGptt(base_url=site.url).complete("Hi") == "Echo: Hi"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_nonce_refreshed_once_then_authentication_error(site, provider):
    bot = provider(base_url=site.url)
    site.inject("expired_nonce")
    assert bot.complete("Hi") == "Echo: Hi"
    assert site.routes() == [SESSION_ROUTE[provider], CHAT_ROUTE[provider],
                             SESSION_ROUTE[provider], CHAT_ROUTE[provider]]
    site.inject("expired_nonce", count=2)
    with pytest.raises(AuthenticationError):
        bot.complete("Hi")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cloudflare_in_front_of_the_nonce(site, provider):
    site.inject("cloudflare", target="any")
    with pytest.raises(BlockedError, match="Cloudflare"):
        provider(base_url=site.url).complete("Hi")
    assert len(site.requests) == 1  # a challenge is not retried


@pytest.mark.parametrize("provider", PROVIDERS)
def test_early_break_releases_the_connection(framed_site, provider):
    bot = provider(base_url=framed_site.url)
    bot.complete("warm up")
    stream = bot.stream("one two three four five six seven eight")
    assert next(stream) == "Echo: "
    stream.close()  # what a `break` out of a for loop does
    assert checked_out(bot) == 0
    before = framed_site.connections
    assert bot.complete("next") == "Echo: next"
    assert bot.complete("and next") == "Echo: and next"
    # one new connection replaces the one closed by the break; then it is reused
    # (close-delimited streams need a new connection per answer by definition)
    expected = 1 if framed_site.framing == "chunked" else 2
    assert framed_site.connections - before == expected


def test_make_reply_is_what_the_server_answers(site):
    assert ChatGptt(base_url=site.url).complete("x y") == make_reply("x y", [])


def test_control_routes_report_and_clear_the_log(site):
    import requests

    ChatGptt(base_url=site.url).complete("Hi")
    log = requests.get(f"{site.url}/__stand-in__/requests").json()
    assert [r["route"] for r in log["requests"]] == ["page", "ajax"]
    assert log["requests"][1]["events_written"] > 0 and log["connections"] >= 1
    requests.post(f"{site.url}/__stand-in__/clear")
    assert site.requests == []
