"""Retries, failover, hostile servers, security, threads and event loops (issue 4)."""

import asyncio
import json
import logging
import pathlib
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses as responses_lib
from conftest import BASE, engine_end, split_body, sse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatgpt_providers import (
    AllProvidersFailedError,
    AuthenticationError,
    BlockedError,
    Chatgpt4Online,
    ChatGptt,
    NetworkError,
    ProviderError,
    RateLimitError,
    RejectedError,
    ResponseError,
    RetryPolicy,
    RetryProvider,
    ServerError,
    StreamInterruptedError,
    TimeoutError,
)
from chatgpt_providers.testing import LocalSite

PROVIDERS = [Chatgpt4Online, ChatGptt]
CHAT_ROUTE = {Chatgpt4Online: "submit", ChatGptt: "ajax"}
SESSION_ROUTE = {Chatgpt4Online: "session", ChatGptt: "page"}


class FakeTime:
    """An injected clock and sleep: retries run without waiting, and say how long they would."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self):
        return self.now

    def policy(self, **options):
        return RetryPolicy(sleep=self.sleep, clock=self.clock, random=lambda: 1.0, **options)


@pytest.fixture
def fake():
    return FakeTime()


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# -- retries ------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["http_503", "rate_limit"])
def test_transient_failures_before_text_are_retried(site, fake, provider, fault):
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=2))
    bot.complete("warm up")
    site.clear_log()
    site.inject(fault, count=2, retry_after=4)
    assert bot.complete("Hi") == "Echo: Hi"
    assert site.routes() == [CHAT_ROUTE[provider]] * 3
    expected = [4, 4] if fault == "rate_limit" else [0.5, 1.0]  # Retry-After, else backoff
    assert fake.sleeps == expected


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_gateway_failure_of_the_message_post_is_not_sent_again(site, fake, provider):
    # HTTP 502 came back after the body went out: the site may have run the message
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=2))
    bot.complete("warm up")
    site.clear_log()
    site.inject("http_502", count=2)
    with pytest.raises(ServerError) as info:
        bot.complete("Hi")
    assert info.value.status_code == 502
    assert site.routes() == [CHAT_ROUTE[provider]] and fake.sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_accepted_opts_in_to_sending_it_again(site, fake, provider):
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=2, retry_accepted=True))
    bot.complete("warm up")
    site.clear_log()
    site.inject("http_502", count=2)
    assert bot.complete("Hi") == "Echo: Hi"
    assert site.routes() == [CHAT_ROUTE[provider]] * 3 and fake.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retries_are_bounded_in_count(site, fake, provider):
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=2))
    bot.complete("warm up")
    site.clear_log()
    site.inject("http_503", count=5)
    with pytest.raises(ServerError) as info:
        bot.complete("Hi")
    assert info.value.status_code == 503
    assert len(site.requests) == 3 and len(fake.sleeps) == 2


def test_connection_errors_are_retried_with_exponential_backoff(fake):
    bot = ChatGptt(base_url=closed_port_url(), retry_policy=fake.policy(retries=3, backoff=0.5))
    with pytest.raises(NetworkError):
        bot.complete("Hi")
    assert fake.sleeps == [0.5, 1.0, 2.0]


def test_backoff_has_jitter_and_a_cap():
    policy = RetryPolicy(retries=10, max_retry_wait=3, backoff=0.5)
    delays = [policy.backoff_delay(attempt) for attempt in range(10)]
    assert all(0 < d <= 3 for d in delays)
    assert len({round(d, 6) for d in delays}) > 5  # jittered, not a fixed ladder


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault, error", [("banned_word", RejectedError), ("http_500", ServerError),
                                          ("cloudflare", BlockedError)])
def test_refusals_and_plain_failures_are_not_retried(site, fake, provider, fault, error):
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=3))
    bot.complete("warm up")
    site.clear_log()
    site.inject(fault, count=5)
    with pytest.raises(error):
        bot.complete("Hi")
    assert site.routes() == [CHAT_ROUTE[provider]]
    assert fake.sleeps == []


def test_plugin_quota_is_not_retried(site, fake):
    bot = ChatGptt(base_url=site.url, retry_policy=fake.policy(retries=3))
    site.inject("token_limit", count=5)
    with pytest.raises(RateLimitError) as info:
        bot.complete("Hi")
    assert info.value.retry_after is None and fake.sleeps == []


def test_retry_after_longer_than_the_cap_is_not_waited_for(site, fake):
    bot = Chatgpt4Online(base_url=site.url, retry_policy=fake.policy(retries=3, max_retry_wait=10))
    site.inject("rate_limit", count=5, retry_after=60)
    with pytest.raises(RateLimitError) as info:
        bot.complete("Hi")
    assert info.value.retry_after == 60 and fake.sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_auth_failure_is_refreshed_once_and_never_retried(site, fake, provider):
    bot = provider(base_url=site.url, retry_policy=fake.policy(retries=3))
    bot.complete("warm up")
    site.clear_log()
    site.inject("expired_nonce", count=5)
    with pytest.raises(AuthenticationError):
        bot.complete("Hi")
    assert site.routes() == [CHAT_ROUTE[provider], SESSION_ROUTE[provider], CHAT_ROUTE[provider]]
    assert fake.sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_failure_after_text_is_never_replayed(fake, provider, framing):
    with LocalSite(delay=0.001, framing=framing) as site:
        bot = provider(base_url=site.url, retry_policy=fake.policy(retries=3))
        bot.complete("warm up")
        site.clear_log()
        site.inject("drop")
        got = []
        with pytest.raises(StreamInterruptedError) as info:
            for text in bot.stream("one two three four five six"):
                got.append(text)
        assert got and info.value.partial_text == "".join(got)
        assert site.routes() == [CHAT_ROUTE[provider]] and fake.sleeps == []


def test_retries_zero_turns_retrying_off(site, fake):
    bot = ChatGptt(base_url=site.url, retries=0)
    assert bot.retry_policy.retries == 0
    site.inject("http_502")
    with pytest.raises(ServerError):
        bot.complete("Hi")
    with pytest.raises(ValueError, match="retries"):
        ChatGptt(retries=-1)


def test_total_timeout_bounds_a_whole_call(site):
    bot = ChatGptt(base_url=site.url, timeout=(3, 30), total_timeout=0.4, retries=0)
    bot.complete("warm up")
    site.inject("stall", seconds=5)
    got = []
    with pytest.raises(TimeoutError) as info:
        for text in bot.stream("one two three four five six"):
            got.append(text)
    assert info.value.phase == "total"
    assert "total_timeout=0.4" in str(info.value)
    assert info.value.partial_text == "".join(got) != ""
    assert bot.complete("after") == "Echo: after"  # the socket timeout is reset for the next call


def test_retry_waits_stop_at_the_total_timeout(site, fake):
    bot = Chatgpt4Online(base_url=site.url, retry_policy=fake.policy(retries=3), total_timeout=5)
    site.inject("rate_limit", count=5, retry_after=3)
    with pytest.raises(RateLimitError):
        bot.complete("Hi")
    assert fake.sleeps == [3]  # a second wait of 3 s would pass the 5 s budget


# -- failover -----------------------------------------------------------------------------

def test_failover_moves_on_before_the_first_text(site):
    blocked = LocalSite().start()
    try:
        blocked.inject("cloudflare", count=100, target="any")
        bot = RetryProvider([Chatgpt4Online(base_url=blocked.url, retries=0), ChatGptt(base_url=site.url)])
        assert list(bot.stream("Hi")) == ["Echo: ", "Hi"]
        assert bot.complete("Hi") == "Echo: Hi"
        assert list(bot.create_completion("gpt-4o", "Hi", stream=False)) == ["Echo: Hi"]
    finally:
        blocked.stop()


def test_failover_accepts_classes_with_shared_options(site):
    bot = RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url, timeout=5)
    assert [p.base_url for p in bot.providers] == [site.url, site.url]
    assert bot.complete("Hi") == "Echo: Hi"
    assert site.routes() == ["session", "submit"]


def test_all_failed_reports_each_provider():
    url = closed_port_url()
    bot = RetryProvider([Chatgpt4Online, ChatGptt], base_url=url, retries=0)
    with pytest.raises(AllProvidersFailedError) as info:
        bot.complete("Hi")
    err = info.value
    assert set(err.errors) == {"Chatgpt4Online", "ChatGptt"}
    assert all(isinstance(e, NetworkError) for e in err.errors.values())
    lines = str(err).splitlines()
    assert lines[0] == "all 2 providers failed:"
    assert lines[1].startswith("  Chatgpt4Online: NetworkError: ")
    assert lines[2].startswith("  ChatGptt: NetworkError: ")
    assert all(len(line) < 180 for line in lines)


def test_no_failover_after_text(site):
    good = LocalSite().start()
    try:
        site.inject("drop")
        bot = RetryProvider([ChatGptt(base_url=site.url, retries=0), Chatgpt4Online(base_url=good.url)])
        with pytest.raises(StreamInterruptedError) as info:
            list(bot.stream("one two three four five six"))
        assert info.value.partial_text.startswith("Echo: ")
        assert good.requests == []
    finally:
        good.stop()


def test_shuffle_changes_the_order(site):
    import random
    bot = RetryProvider([Chatgpt4Online, ChatGptt], base_url=site.url, shuffle=True, rng=random.Random(3))
    firsts = set()
    for _ in range(12):
        site.clear_log()
        bot.complete("Hi")
        firsts.add(site.routes()[-1])
    assert firsts == {"submit", "ajax"}


def test_retry_provider_validates_eagerly():
    with pytest.raises(ValueError):
        RetryProvider([])
    with pytest.raises(ValueError):
        RetryProvider(["ChatGptt"])
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        RetryProvider([ChatGptt]).stream([{"role": "x", "content": "y"}])


# -- hostile or broken servers -------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_caps_on_event_and_reply_size(site, provider):
    bot = provider(base_url=site.url, retries=0, max_event_bytes=64 * 1024)
    site.inject("endless_line", size=4 * 1024 * 1024)
    with pytest.raises(ResponseError, match="max_event_bytes"):
        bot.complete("one two three four five six")
    small = provider(base_url=site.url, retries=0, max_reply_chars=12)
    got = []
    with pytest.raises(ResponseError, match="max_reply_chars=12") as info:
        for text in small.stream("one two three four five six"):
            got.append(text)
    assert info.value.partial_text == "".join(got) == "Echo: one "


def test_cap_on_the_page_size(rsps):
    rsps.get(f"{BASE}/", body=b"<html>" + b"x" * 300_000)
    with pytest.raises(ResponseError, match="more than 100000 bytes"):
        ChatGptt(BASE, max_body_bytes=100_000).complete("Hi")


def test_invalid_utf8_is_replaced_not_fatal(rsps):
    rsps.post(f"{BASE}/wp-json/mwai/v1/start_session",
              json={"success": True, "sessionId": "s", "restNonce": "a1b2c3d4e5"})
    body = b'data: {"type":"live","data":"ok \xff\xfe"}\n\n' + sse(engine_end("ok \ufffd\ufffd"))
    rsps.post(f"{BASE}/wp-json/mwai-ui/v1/chats/submit", body=body, content_type="text/event-stream")
    assert Chatgpt4Online(BASE).complete("Hi") == "ok \ufffd\ufffd"


def test_hostile_pages_are_scanned_in_linear_time(rsps):
    """Megabytes of unterminated tags and markers: a backtracking scanner would never finish."""
    hostile = ("<div " * 200_000 + '<div class="wpaicg-chat-shortcode" data-x="' + "a" * 500_000
               + "wpaicg-chat " * 50_000 + '"search_nonce": "' + "\\a" * 100_000)
    rsps.get(f"{BASE}/", body=hostile)
    with pytest.raises(Exception) as info:
        ChatGptt(BASE, retries=0).complete("Hi")
    assert "Unable to extract the AI Power nonce" in str(info.value)


# -- security -----------------------------------------------------------------------------

def test_tls_verification_is_on_by_default():
    assert ChatGptt().transport.session.verify is True
    assert Chatgpt4Online(verify="/etc/ssl/ca.pem").transport.session.verify == "/etc/ssl/ca.pem"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nonces_and_cookies_never_leak_into_logs_or_messages(site, provider, caplog):
    caplog.set_level(logging.DEBUG, logger="chatgpt_providers")
    bot = provider(base_url=site.url, retries=1, retry_policy=None)
    bot.complete("Hi")
    secrets = {site.engine_nonce, site.power_nonce}
    secrets |= {c.value for c in bot.transport.session.cookies}
    messages = []
    for fault in ("expired_nonce", "http_502", "banned_word", "drop", "cloudflare", "unsupported"):
        site.inject(fault, count=2)
        try:
            bot.complete("one two three four")
        except Exception as exc:  # noqa: BLE001 - any error's text is checked
            messages += [str(exc), exc.body, repr(exc)]
    above_debug = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    assert above_debug  # the retries and refreshes were logged
    for text in above_debug + messages:
        for secret in secrets:
            assert secret not in text


# -- concurrency ----------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_eight_threads_share_one_instance(provider):
    with LocalSite(delay=0.002, latency=0.01) as site:
        bot = provider(base_url=site.url)
        start = threading.Barrier(8)

        def ask(index):
            start.wait()
            return [bot.complete(f"question {index}.{turn}") for turn in range(3)]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        assert answers == [[f"Echo: question {i}.{t}" for t in range(3)] for i in range(8)]
        assert site.routes().count(SESSION_ROUTE[provider]) == 1  # the nonce was fetched once


def test_concurrent_refresh_after_expiry_fetches_once(site):
    bot = ChatGptt(base_url=site.url)
    bot.complete("warm up")
    site.expire_nonces()
    site.clear_log()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: bot.complete(f"q{i}"), range(8)))
    assert answers == [f"Echo: q{i}" for i in range(8)]
    assert site.routes().count("page") == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_works_inside_a_running_event_loop(site, provider):
    """The Jupyter situation: a loop is already running in this thread."""
    bot = provider(base_url=site.url)

    async def cell():
        return bot.complete("from a notebook"), list(bot.stream("streamed"))

    answer, streamed = asyncio.run(cell())
    assert answer == "Echo: from a notebook"
    assert "".join(streamed) == "Echo: streamed"


def test_no_event_loop_code_in_the_package():
    package = pathlib.Path(__file__).resolve().parent.parent / "chatgpt_providers"
    for source in package.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import asyncio|from asyncio|async def|await )", text, re.M), source


# -- properties (hypothesis) ----------------------------------------------------------------

ENGINE_STREAM = sse({"type": "live", "data": "Привет, "},
                    {"type": "live", "subtype": "content", "data": "🙂 мир"},
                    {"type": "live", "subtype": "thinking", "data": "hmm"},
                    engine_end("Привет, 🙂 мир!"), newline="\r\n")
POWER_STREAM = (b"event: message\r\n" + sse(
    {"id": "c", "choices": [{"index": 0, "delta": {"content": "Ünï "}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"content": "cödé 🙂"}}]}, "[DONE]", newline="\r\n"))
PAGE = ('<div class="wpaicg-chat-shortcode" data-nonce="0123456789" data-post-id="1" '
        'data-bot-id="0" data-type="shortcode"></div>')
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_engine(body):
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{BASE}/wp-json/mwai/v1/start_session",
                  json={"success": True, "sessionId": "s", "restNonce": "a1b2c3d4e5"})
        mock.post(f"{BASE}/wp-json/mwai-ui/v1/chats/submit", body=body, content_type="text/event-stream")
        return "".join(Chatgpt4Online(BASE, retries=0).stream("Hi"))


def run_power(body, content_type="text/event-stream"):
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BASE}/", body=PAGE)
        mock.post(f"{BASE}/wp-admin/admin-ajax.php", body=body, content_type=content_type)
        return "".join(ChatGptt(BASE, retries=0).stream("Hi"))


cuts = st.lists(st.integers(min_value=1, max_value=max(len(ENGINE_STREAM), len(POWER_STREAM))),
                max_size=40)


@PROPERTY
@given(cuts)
def test_any_split_of_a_valid_stream_gives_the_same_text(points):
    assert run_engine(split_body(ENGINE_STREAM, points)) == "Привет, 🙂 мир!"
    assert run_power(split_body(POWER_STREAM, points)) == "Ünï cödé 🙂"


garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"data: ", b"\n", b"\r", b"{", b"}", b'"type":"live"', b'"data":',
                              b'"end"', b"[DONE]", b"[LIMITED]", b'"choices":[', b"\xff", b"\xf0\x9f",
                              b'"error"', b":", b"event: message", b"[", b"]", b"null"]),
             max_size=60).map(b"".join),
)


@PROPERTY
@given(garbage, cuts)
def test_garbage_gives_text_or_a_provider_error(body, points):
    for run in (run_engine, run_power, lambda b: run_power(b, "application/json"),
                lambda b: run_power(b, "text/html")):
        try:
            assert isinstance(run(split_body(body, points)), str)
        except ProviderError:
            pass


@PROPERTY
@given(st.text(max_size=300))
def test_garbage_pages_give_text_or_a_provider_error(page):
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BASE}/", body=page)
        mock.post(f"{BASE}/wp-admin/admin-ajax.php", body=json.dumps({"status": "success", "data": "x"}),
                  content_type="application/json")
        try:
            ChatGptt(BASE, retries=0).complete("Hi")
        except ProviderError:
            pass
