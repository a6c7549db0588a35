"""The transport: options, the redirect policy for the nonce, network failures."""

import socket

import pytest
import requests
from conftest import BASE, sse

from chatgpt_providers import AIEngine, ChatGptt, NetworkError, ResponseError
from chatgpt_providers.core.http_errors import parse_retry_after
from chatgpt_providers.core.timeouts import normalize_timeout


def test_timeout_forms():
    assert normalize_timeout(5) == (5.0, 5.0)
    assert normalize_timeout((3, 30)) == (3.0, 30.0)
    assert normalize_timeout(None) == (10.0, 60.0)
    for bad in (0, -1, "5", (1, 2, 3), (1, None), True):
        with pytest.raises(ValueError, match="timeout"):
            normalize_timeout(bad)


def test_default_timeout_is_10_connect_60_read():
    assert ChatGptt().transport.timeout == (10.0, 60.0)


def test_proxy_options():
    bot = ChatGptt(proxy="http://127.0.0.1:3128")
    assert bot.transport.session.proxies == {"http": "http://127.0.0.1:3128",
                                             "https": "http://127.0.0.1:3128"}
    bot = ChatGptt(proxies={"https": "socks5://127.0.0.1:1080"})
    assert bot.transport.session.proxies == {"https": "socks5://127.0.0.1:1080"}
    with pytest.raises(ValueError, match="either proxy"):
        ChatGptt(proxy="http://a:1", proxies={"http": "http://b:2"})


class CountingSession(requests.Session):
    closed = 0

    def close(self):
        self.closed += 1
        super().close()


def test_headers_verify_and_own_session():
    own = CountingSession()
    bot = ChatGptt(session=own, headers={"X-Test": "1"}, verify=False)
    assert bot.transport.session is own
    assert own.headers["X-Test"] == "1" and own.verify is False
    bot.close()
    assert own.closed == 0  # a session you passed in is yours to close
    ours = ChatGptt()
    assert "Mozilla" in ours.transport.session.headers["User-Agent"]


def test_a_client_closes_the_session_it_made():
    with ChatGptt(session=CountingSession()) as bot:
        pass
    assert bot.transport.session.closed == 0
    bot = ChatGptt()
    bot.transport.session = own = CountingSession()
    bot.close()
    assert own.closed == 1


def test_retry_after_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("later") is None


def test_nonce_never_follows_a_redirect_to_another_host(rsps):
    rsps.post(f"{BASE}/wp-json/mwai/v1/start_session",
              json={"success": True, "sessionId": "s", "restNonce": "a1b2c3d4e5"})
    rsps.post(f"{BASE}/wp-json/mwai-ui/v1/chats/submit", status=307,
              headers={"Location": "https://elsewhere.example/collect"})
    with pytest.raises(ResponseError, match="redirected a POST to another site"):
        AIEngine(BASE, bot_id="default").complete("Hi")
    assert all("elsewhere" not in c.request.url for c in rsps.calls)


def test_same_site_redirect_keeps_the_post_and_the_nonce(rsps):
    http_base = BASE.replace("https", "http")
    rsps.post(f"{http_base}/wp-json/mwai/v1/start_session", status=301,
              headers={"Location": f"{BASE}/wp-json/mwai/v1/start_session"})
    rsps.post(f"{BASE}/wp-json/mwai/v1/start_session",
              json={"success": True, "sessionId": "s", "restNonce": "a1b2c3d4e5"})
    rsps.post(f"{http_base}/wp-json/mwai-ui/v1/chats/submit", status=308,
              headers={"Location": f"{BASE}/wp-json/mwai-ui/v1/chats/submit"})
    rsps.post(f"{BASE}/wp-json/mwai-ui/v1/chats/submit", content_type="text/event-stream",
              body=sse({"type": "end", "data": '{"success": true, "reply": "ok"}'}))
    assert AIEngine(http_base, bot_id="default").complete("Hi") == "ok"
    final = rsps.calls[-1].request
    assert final.method == "POST" and final.headers["X-WP-Nonce"] == "a1b2c3d4e5"


def test_connection_refused_is_a_network_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError, match="could not reach") as info:
        ChatGptt(base_url=f"http://127.0.0.1:{port}", timeout=2, retries=0).complete("Hi")
    assert info.value.provider == "ChatGptt"
    assert info.value.partial_text == ""



def test_our_proxy_wins_over_the_environment_and_no_proxy_is_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:1")
    monkeypatch.setenv("NO_PROXY", "skip.example")
    mine = ChatGptt(proxy="http://mine:2").transport
    assert mine._site_settings("https://site.example/x")["proxies"]["https"] == "http://mine:2"
    env = ChatGptt().transport
    assert env._site_settings("https://site.example/x")["proxies"]["https"] == "http://env-proxy:1"
    assert "https" not in env._site_settings("https://skip.example/x")["proxies"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/ca.pem")
    assert ChatGptt().transport._site_settings("https://a.example")["verify"] == "/tmp/ca.pem"
    assert "verify" not in ChatGptt(verify=False).transport._site_settings("https://a.example")


def test_a_session_you_bring_keeps_its_own_environment_handling():
    own = requests.Session()
    ChatGptt(session=own)
    assert own.trust_env is True


def _raised_in(cause: BaseException) -> requests.ConnectionError:
    """A ConnectionError raised while handling ``cause``, as requests raises them."""
    try:
        try:
            raise cause
        except OSError as err:
            raise requests.ConnectionError("failed") from err
    except requests.ConnectionError as exc:
        return exc


@pytest.mark.parametrize("exc, kind, phase", [
    (requests.ConnectTimeout("slow"), "TimeoutError", "connect"),   # also a ConnectionError
    (requests.ReadTimeout("silent"), "TimeoutError", "read"),
    (requests.exceptions.ProxyError("proxy said no"), "NetworkError", "connect"),
    (requests.exceptions.SSLError("bad certificate"), "NetworkError", "connect"),
    (requests.exceptions.InvalidProxyURL("proxy?"), "NetworkError", "connect"),
    (requests.exceptions.InvalidURL("no host"), "ResponseError", None),
    (requests.exceptions.InvalidHeader("bad value"), "ResponseError", None),
    (_raised_in(socket.gaierror("name unknown")), "NetworkError", "connect"),
    (_raised_in(ConnectionResetError("reset by peer")), "NetworkError", "exchange"),
])
def test_network_failures_map_to_typed_errors_subclasses_first(exc, kind, phase):
    """The error table: a ConnectTimeout is a timeout of the connection, not a read timeout
    or a plain connection error (its bases); what cannot be sent is no NetworkError."""
    from chatgpt_providers.core.http_errors import network_error

    error = network_error(exc, "https://s.example/", "ChatGptt", (3.0, 30.0))
    assert (type(error).__name__, getattr(error, "phase", None)) == (kind, phase)
    assert error.provider == "ChatGptt" and error.url == "https://s.example/"


def test_a_transport_names_its_provider_on_every_error_without_being_told_per_call():
    with socket.socket() as held:  # a port nothing listens on
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
    bot = AIEngine(f"http://127.0.0.1:{port}", retries=0, timeout=(2, 2))
    with pytest.raises(NetworkError) as caught:
        bot.transport.request("GET", f"http://127.0.0.1:{port}/")
    assert caught.value.provider == "AIEngine" and caught.value.phase == "connect"
    with pytest.raises(ResponseError) as refused:
        bot.transport.request("GET", "ftp://127.0.0.1/")
    assert refused.value.provider == "AIEngine"
