"""A local WordPress stand-in that speaks both chatbot protocols, for demos and tests.

Standard library only. One site serves a page with an AI Engine container and AI Power
containers, ``start_session``, ``chats/submit`` and ``admin-ajax.php``, with real nonces,
word-by-word replies, chunked or close-delimited framing, fault injection and a request log::

    >>> from chatgpt_providers import ChatGptt
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite(delay=0) as site:
    ...     ChatGptt(base_url=site.url).complete("Hi")
    'Echo: Hi'

Replies are deterministic: ``Echo: <message>``, followed by ``(history: N turns, last:
<text>)`` when earlier turns arrived, so a test can check that context reached the server.

Faults (``site.inject(name, count=1)``, or the request header ``X-Fault: name``):

=====================  ==============================================================
``error_event``        AI Engine ``error`` event mid-stream; AI Power upstream error words
``limited``            AI Power error words ending with ``[LIMITED]``
``drop``               the connection is cut mid-stream, without an end marker
``expired_nonce``      the nonce is refused exactly as each plugin refuses it
``rate_limit``         HTTP 429 with ``Retry-After`` (``retry_after=`` seconds, default 7)
``http_500/502/503``   an HTML error page with that status
``cloudflare``         a Cloudflare challenge page (403, ``cf-mitigated: challenge``)
``malformed_sse``      comments, unknown fields and non-JSON data lines among the events
``json_instead_of_sse`` a JSON answer where a stream was due
``sse_instead_of_json`` an event stream where JSON was due (AI Power)
``token_limit``        AI Power ``tokenLimitReached`` flag
``banned_word``        AI Power ``messageFlagged`` flag; AI Engine rejected query (403)
``banned_ip``          AI Power ``ipBanned`` flag
``unsupported``        AI Power 2.3+: HTTP 400 ``0``; AI Engine: no such route (404)
``stall``              the stream stops sending (``seconds=``, default 30) after a few words
``endless_line``       ``data:`` followed by bytes and never a line break
=====================  ==============================================================

Faults target the chat requests by default; ``target="page"``, ``"session"`` or
``"any"`` aim them at the page, ``start_session`` or every request.

A stand-in in another process (``chatgpt-providers serve``) reports its request log at
``GET /__stand-in__/requests`` (``{"connections": N, "requests": [...]}``, timestamps from
``time.perf_counter()``, the system's monotonic clock) and forgets it on
``POST /__stand-in__/clear``; these control requests are not logged.
"""

from __future__ import annotations

import html
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

__all__ = ["LocalSite", "RecordedRequest", "FAULTS", "make_reply"]

log = logging.getLogger(__name__)

FAULTS = (
    "error_event", "limited", "drop", "expired_nonce", "rate_limit", "http_500", "http_502",
    "http_503", "cloudflare", "malformed_sse", "json_instead_of_sse", "sse_instead_of_json",
    "token_limit", "banned_word", "banned_ip", "unsupported", "stall", "endless_line",
)
_TARGETS = ("chat", "page", "session", "any")
_WORD = re.compile(r"\S+\s*|\s+")


def make_reply(message: str, history: List[str]) -> str:
    """The stand-in's deterministic reply.

    >>> make_reply("Hi", [])
    'Echo: Hi'
    >>> make_reply("And now?", ["Hi", "Echo: Hi"])
    'Echo: And now? (history: 2 turns, last: Echo: Hi)'
    """
    reply = f"Echo: {message.strip()}"
    if history:
        reply += f" (history: {len(history)} turns, last: {history[-1].strip()})"
    return reply


def words(text: str) -> List[str]:
    """Split a reply into the pieces streamed one event each (words with their spaces).

    >>> words("Echo: Hi there")
    ['Echo: ', 'Hi ', 'there']
    """
    return _WORD.findall(text) or [text]


@dataclass
class RecordedRequest:
    """One request the stand-in received, for tests to assert on.

    >>> from chatgpt_providers import ChatGptt
    >>> with LocalSite() as site:
    ...     _ = ChatGptt(base_url=site.url).complete("Hi")
    ...     site.requests[-1].form["message"], site.requests[-1].status
    ('Hi', 200)
    """

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    route: str = ""
    connection: int = 0
    first_event_at: Optional[float] = None
    last_event_at: Optional[float] = None
    events_written: int = 0
    status: Optional[int] = None
    #: ``time.perf_counter()`` when the request was read and when its answer was finished.
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def server_time(self) -> float:
        """Seconds the stand-in spent on this request (latency, waits and writing)."""
        return self.finished_at - self.started_at

    def summary(self) -> Dict[str, Any]:
        """The record without headers and body, as the control route reports it.

        >>> sorted(RecordedRequest("GET", "/", {}, {}, b"", "page").summary())[:3]
        ['connection', 'events_written', 'finished_at']
        """
        return {"method": self.method, "path": self.path, "route": self.route,
                "status": self.status, "connection": self.connection,
                "events_written": self.events_written, "started_at": self.started_at,
                "finished_at": self.finished_at, "first_event_at": self.first_event_at,
                "last_event_at": self.last_event_at}

    @property
    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    @property
    def form(self) -> Dict[str, str]:
        """The body decoded as a form (last value of each field)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class _Fault:
    name: str
    remaining: int
    target: str
    params: Dict[str, Any] = field(default_factory=dict)


class LocalSite:
    """A stand-in WordPress site on ``127.0.0.1`` serving both chatbot plugins.

    >>> with LocalSite() as site:
    ...     site.url.startswith("http://127.0.0.1:")
    True

    Settings: ``delay`` seconds between streamed words, ``latency`` seconds added to every
    request, ``framing`` ``"chunked"`` or ``"close"`` (no length, ends on close),
    ``ai_power_stream`` (stream or JSON answers), ``ai_power_bot_id`` (a custom bot streams
    only when the request names it, as on real sites), ``pretty_permalinks`` (else the REST
    API lives at ``?rest_route=``), ``engine_start_session`` (False: the route is missing and
    the page carries ``restNonce``), ``rotate_nonce`` (every AI Engine ``end`` hands out a new
    nonce and the old one stops working), ``max_input`` (AI Engine max message length),
    ``plugins`` (which chatbots the page shows), ``ai_power_version`` (``"2.3"`` or later: the
    AIPKit page, and HTTP 400 ``0`` for the legacy actions).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.002,
        latency: float = 0.0,
        framing: str = "chunked",
        ai_power_stream: bool = True,
        ai_power_bot_id: str = "0",
        pretty_permalinks: bool = True,
        engine_start_session: bool = True,
        rotate_nonce: bool = False,
        max_input: Optional[int] = None,
        plugins: Tuple[str, ...] = ("ai-engine", "ai-power"),
        ai_power_version: str = "1.9.8",
    ) -> None:
        if framing not in ("chunked", "close"):
            raise ValueError(f"framing must be 'chunked' or 'close'; got {framing!r}")
        unknown = set(plugins) - {"ai-engine", "ai-power"}
        if unknown:
            raise ValueError(f"plugins are 'ai-engine' and 'ai-power'; got {sorted(unknown)}")
        self.host = host
        self.port = port
        self.delay = delay
        self.latency = latency
        self.framing = framing
        self.ai_power_stream = ai_power_stream
        self.ai_power_bot_id = str(ai_power_bot_id)
        self.pretty_permalinks = pretty_permalinks
        self.engine_start_session = engine_start_session
        self.rotate_nonce = rotate_nonce
        self.max_input = max_input
        #: Which chatbots the page shows (the routes answer either way).
        self.plugins = tuple(plugins)
        #: "2.3" or later: the AIPKit rewrite, whose page differs and whose server answers
        #: the legacy actions with HTTP 400 ``0``.
        self.ai_power_version = ai_power_version
        self.requests: List[RecordedRequest] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._faults: List[_Fault] = []
        self._stopping = threading.Event()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.engine_nonce = _nonce()
        self.power_nonce = _nonce()

    # -- life cycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, once started."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start() or use 'with'")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> LocalSite:
        """Bind and serve in a background thread; returns the site.

        >>> site = LocalSite().start()
        >>> site.url.startswith("http://127.0.0.1:")
        True
        >>> site.stop()
        """
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="chatgpt-providers-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (stalled streams end too); see :meth:`start`."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)
        self._server = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``chatgpt-providers serve``).

        >>> site = LocalSite(port=0)   # site.serve_forever() then blocks until Ctrl-C
        """
        self.start()
        try:
            while self._thread and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- control -------------------------------------------------------------------------

    def inject(self, fault: str, count: int = 1, *, target: str = "chat", **params: Any) -> None:
        """Make the next ``count`` requests of ``target`` fail with ``fault``.

        >>> site = LocalSite()
        >>> site.inject("rate_limit", retry_after=3)
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
        if target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}; got {target!r}")
        with self._lock:
            self._faults.append(_Fault(fault, count, target, params))

    def clear_faults(self) -> None:
        """Forget every pending fault.

        >>> site = LocalSite(); site.inject("drop", count=3); site.clear_faults()
        """
        with self._lock:
            self._faults.clear()

    def expire_nonces(self) -> None:
        """Issue new nonces for both plugins; the old ones are refused from now on.

        >>> site = LocalSite(); old = site.power_nonce; site.expire_nonces()
        >>> site.power_nonce != old
        True
        """
        with self._lock:
            self.engine_nonce = _nonce()
            self.power_nonce = _nonce()

    def clear_log(self) -> None:
        """Empty the request log and the connection count.

        >>> site = LocalSite(); site.clear_log(); site.requests
        []
        """
        with self._lock:
            self.requests.clear()
            self.connections = 0

    def routes(self) -> List[str]:
        """The routes of the logged requests, in order (``page``, ``session``, ``submit``,
        ``ajax``, ...).

        >>> from chatgpt_providers import Chatgpt4Online
        >>> with LocalSite() as site:
        ...     _ = Chatgpt4Online(base_url=site.url).complete("Hi")
        ...     site.routes()
        ['session', 'submit']
        """
        with self._lock:
            return [r.route for r in self.requests]

    def _take_fault(self, route: str, header: Optional[str]) -> Optional[_Fault]:
        if header:
            return _Fault(header, 1, "any")
        kind = {"submit": "chat", "ajax": "chat", "page": "page", "session": "session"}.get(route)
        with self._lock:
            for fault in self._faults:
                if fault.target == "any" or fault.target == kind:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


def _nonce() -> str:
    return secrets.token_hex(5)


_CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
    "<div id=\"challenge-platform\">Checking if the site connection is secure</div></body></html>"
)
_EXPIRED_PAGE = (
    "The link you followed has expired.</p><p><a href=\"/\">Please try again.</a>"
)


class _Handler(BaseHTTPRequestHandler):
    site: LocalSite
    protocol_version = "HTTP/1.1"
    # Every event is flushed as written: no Nagle delay between headers and body parts.
    disable_nagle_algorithm = True
    server_version = "Apache"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.site._lock:
            self.site.connections += 1
            self.connection_number = self.site.connections

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("stand-in: " + format, *args)

    # -- dispatch ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route_path = parts.path
        if route_path.startswith("/__stand-in__/"):
            return self._control(method, route_path)
        if "rest_route" in query:
            route_path = "/wp-json" + query["rest_route"][0]
        route = self._route(method, route_path, query)
        record = RecordedRequest(method, parts.path, query, dict(self.headers.items()), body,
                                 route, self.connection_number, started_at=time.perf_counter())
        with self.site._lock:
            self.site.requests.append(record)
        self.record = record
        if self.site.latency:
            time.sleep(self.site.latency)
        fault = self.site._take_fault(route, self.headers.get("X-Fault"))
        try:
            if fault and self._generic_fault(fault):
                return
            handler = getattr(self, f"_route_{route}")
            handler(body, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            record.finished_at = time.perf_counter()

    def _control(self, method: str, path: str) -> None:
        site = self.site
        self.record = RecordedRequest(method, path, {}, {}, b"", "control")
        if path == "/__stand-in__/requests" and method == "GET":
            with site._lock:
                log_ = {"connections": site.connections,
                        "requests": [r.summary() for r in site.requests]}
            return self._send(200, log_)
        if path == "/__stand-in__/clear" and method == "POST":
            site.clear_log()
            return self._send(200, {"cleared": True})
        return self._send(404, {"error": "unknown control route"})

    def _route(self, method: str, path: str, query: Dict[str, List[str]]) -> str:
        site = self.site
        rest_ok = site.pretty_permalinks or "rest_route" in query
        if path.startswith("/wp-json/") and not rest_ok:
            return "not_found"
        if path == "/wp-json/mwai/v1/start_session":
            return "session" if method == "POST" and site.engine_start_session else "no_route"
        if path == "/wp-json/mwai-ui/v1/chats/submit":
            return "submit" if method == "POST" else "no_route"
        if path.startswith("/wp-json/"):
            return "no_route"
        if path == "/wp-admin/admin-ajax.php":
            return "ajax" if method == "POST" else "ajax_get"
        return "page" if method == "GET" else "not_found"

    # -- plain answers -------------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: str = "application/json; charset=UTF-8",
              headers: Optional[Dict[str, str]] = None) -> None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self._close_framed():
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def _close_framed(self) -> bool:
        return self.site.framing == "close" and self.record.route in ("submit", "ajax")

    def _generic_fault(self, fault: _Fault) -> bool:
        """Faults that look the same whatever the route; True when one was answered."""
        name = fault.name
        if name == "cloudflare":
            self._send(403, _CLOUDFLARE_PAGE, "text/html; charset=UTF-8",
                       {"cf-mitigated": "challenge", "Server": "cloudflare"})
        elif name == "rate_limit":
            retry = str(fault.params.get("retry_after", 7))
            self._send(429, "<html><body><h1>429 Too Many Requests</h1></body></html>",
                       "text/html", {"Retry-After": retry})
        elif name.startswith("http_"):
            status = int(name[5:])
            self._send(status, f"<html><head><title>{status} Error</title></head><body>"
                               f"<h1>Error {status}</h1></body></html>", "text/html")
        else:
            return False
        return True

    def _route_not_found(self, body: bytes, fault: Optional[_Fault]) -> None:
        self._send(404, "<html><body><h1>Not Found</h1></body></html>", "text/html")

    def _route_no_route(self, body: bytes, fault: Optional[_Fault]) -> None:
        self._send(404, {"code": "rest_no_route",
                         "message": "No route was found matching the URL and request method.",
                         "data": {"status": 404}})

    def _route_ajax_get(self, body: bytes, fault: Optional[_Fault]) -> None:
        self._send(400, "0", "text/html; charset=UTF-8")

    # -- the page ------------------------------------------------------------------------

    def _route_page(self, body: bytes, fault: Optional[_Fault]) -> None:
        site = self.site
        base = f"http://{self.headers.get('Host') or site.host}"
        rest_url = f"{base}/wp-json" if site.pretty_permalinks else f"{base}/index.php?rest_route="
        system = {
            "botId": "default", "customId": None, "userData": None, "sessionId": None,
            "restNonce": None if site.engine_start_session else site.engine_nonce,
            "contextId": 58, "pluginUrl": f"{base}/wp-content/plugins/ai-engine/",
            "restUrl": rest_url, "stream": True, "debugMode": False, "typewriter": False,
        }
        data_system = html.escape(json.dumps(system), quote=True)
        bot = site.ai_power_bot_id
        nonce = site.power_nonce
        escaped_base = base.replace("/", "\\/")
        parts = ['<!DOCTYPE html>\n<html lang="en-US"><head><meta charset="UTF-8">'
                 "<title>Stand-in chatbot site</title>"]
        aipkit = _is_aipkit(site.ai_power_version)
        if "ai-power" in site.plugins and not aipkit:
            params = json.dumps({"ajax_url": "AJAX", "search_nonce": nonce, "logged_in": "0"})
            params = params.replace('"AJAX"', f'"{escaped_base}\\/wp-admin\\/admin-ajax.php"')
            parts.append(f"<script>var wpaicgParams = {params};</script>")
        parts.append("</head><body>\n<h1>Stand-in WordPress site</h1>")
        if "ai-engine" in site.plugins:
            parts.append(f"""<div class='mwai-chatbot-container'
     data-params='{{&quot;aiName&quot;:&quot;AI: &quot;}}'
     data-system='{data_system}' data-theme='{{}}'></div>""")
        if "ai-power" in site.plugins and aipkit:
            ajax = f"{escaped_base}\\/wp-admin\\/admin-ajax.php"
            parts.append(f"""<div class="aipkit_chat_container" data-bot-id="{bot}"
     data-nonce="{nonce}"></div>
<script>var aipkit_chat_config = {{"ajaxUrl": "{ajax}"}};</script>""")
        elif "ai-power" in site.plugins:
            parts.append(f"""<div data-post-id = "&lt;58" data-url="{base}/" class="wpaicg-chat-shortcode"
     data-nonce='{nonce}' data-bot-id="{bot}" data-type="shortcode" data-openai_stream_nav="1"
     style="width:100%"></div>
<div class="wpaicg-chat-shortcode-messages"></div>
<div class="wpaicg-chatbox wpaicg-chatbox-widget" data-type="widget" data-nonce="{nonce}"
     data-post-id="" data-url="{base}/" data-bot-id="0" data-openai_stream_nav="1"></div>""")
        parts.append("<p>A blog post.</p></body></html>")
        page = "\n".join(parts)
        self._send(200, page, "text/html; charset=UTF-8")

    # -- AI Engine -----------------------------------------------------------------------

    def _route_session(self, body: bytes, fault: Optional[_Fault]) -> None:
        session_id = secrets.token_hex(6)
        self._send(200, {"success": True, "sessionId": session_id,
                         "restNonce": self.site.engine_nonce},
                   headers={"Set-Cookie": f"mwai_session_id={session_id}; path=/; HttpOnly"})

    def _route_submit(self, body: bytes, fault: Optional[_Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        nonce = self.headers.get("X-WP-Nonce")
        if name == "unsupported":
            return self._route_no_route(body, fault)
        if not nonce:
            return self._send(401, {"code": "rest_forbidden",
                                    "message": "Sorry, you are not allowed to do that.",
                                    "data": {"status": 401}})
        if nonce != site.engine_nonce or name == "expired_nonce":
            return self._send(403, {"code": "rest_cookie_invalid_nonce",
                                    "message": "Cookie check failed", "data": {"status": 403}})
        try:
            request = json.loads(body)
            message = str(request.get("newMessage") or "")
            history = [str(m.get("content", "")) for m in request.get("messages") or []]
        except (ValueError, AttributeError):
            return self._send(400, {"code": "rest_invalid_json", "message": "Invalid JSON body."})
        too_long = site.max_input is not None and len(message) > site.max_input
        if not message.strip() or too_long or name == "banned_word":
            return self._send(403, {"success": False,
                                    "message": "Sorry, your query has been rejected."})
        reply = make_reply(message, history)
        final: Dict[str, Any] = {
            "success": True, "reply": reply, "images": None, "actions": [], "shortcuts": [],
            "blocks": [], "chatId": request.get("chatId"),
            "usage": {"prompt_tokens": len(message.split()), "completion_tokens": len(words(reply)),
                      "total_tokens": len(message.split()) + len(words(reply))},
        }
        if site.rotate_nonce:
            with site._lock:
                site.engine_nonce = _nonce()
                final["new_token"] = site.engine_nonce
        if not request.get("stream") or name == "json_instead_of_sse":
            return self._send(200, final)
        events = [{"type": "live", "data": w} for w in words(reply)]
        if name == "error_event":
            events = events[: max(1, len(events) // 2)]
            events.append({"type": "error", "data": "Oops! Something went wrong on the server. "
                                                    "Please try again."})
        else:
            events.append({"type": "end", "data": json.dumps(final)})
        if name == "malformed_sse":
            events = _malformed(events)
        self._stream(events, fault)

    # -- AI Power ------------------------------------------------------------------------

    def _route_ajax(self, body: bytes, fault: Optional[_Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        form = self.record.form
        if name == "unsupported" or _is_aipkit(site.ai_power_version) or form.get("action") not in (
                "wpaicg_chat_shortcode_message", "wpaicg_chatbox_message"):
            return self._send(400, "0", "text/html; charset=UTF-8")
        if form.get("_wpnonce") != site.power_nonce or name == "expired_nonce":
            return self._send(403, _EXPIRED_PAGE, "text/html; charset=UTF-8")
        message = form.get("message", "")
        if message.strip() in ("", "0"):
            return self._send(200, {"status": "error", "msg": "It appears that nothing was inputted."})
        history = _power_history(form.get("wpaicg_chat_history", ""))
        reply = make_reply(message, history)
        # As on real sites: a custom bot's settings apply only when the request names it.
        named = form.get("bot_id") == site.ai_power_bot_id and form.get("chatbot_identity") == (
            f"custom_bot_{site.ai_power_bot_id}" if site.ai_power_bot_id != "0"
            else form.get("chatbot_identity"))
        streaming = site.ai_power_stream and named
        if name == "json_instead_of_sse":
            streaming = False
        elif name == "sse_instead_of_json":
            streaming = True
        flags = {"token_limit": {"msg": "You have reached your token limit.", "tokenLimitReached": True},
                 "banned_ip": {"msg": "You are not allowed to access this feature.", "ipBanned": True},
                 "banned_word": {"msg": "Your message contains prohibited words. Please modify "
                                        "your message and try again.", "messageFlagged": True}}
        if not streaming:
            if name in flags:
                flag = flags[name]
                if name != "token_limit":
                    flag = {"status": "error", "msg": flag["msg"]}
                return self._send(200, flag)
            if name in ("error_event", "limited"):
                return self._send(200, {"status": "error", "msg": "Incorrect API key provided."})
            return self._send(200, {"status": "success", "msg": "Something went wrong",
                                    "greeting_message": "You are a helpful assistant.",
                                    "data": reply, "log": 123})
        if name in flags:
            events: List[Any] = [flags[name]] + _openai_chunks(reply)
        elif name in ("error_event", "limited"):
            error_words = 'Incorrect API key provided: "sk-abc". You can find your key online.'
            events = [("message", _broken_word(w)) for w in words(error_words)]
            events.append({"choices": [{"finish_reason": "stop"}]} if name == "error_event"
                          else "[LIMITED]")
        else:
            events = _openai_chunks(reply) + ["[DONE]"]
        if name == "malformed_sse":
            events = _malformed(events)
        self._stream(events, fault)

    # -- streaming -----------------------------------------------------------------------

    def _stream(self, events: List[Any], fault: Optional[_Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        self.record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream;charset=UTF-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        chunked = site.framing == "chunked"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        write = self._write_chunk if chunked else self.wfile.write
        cut = max(1, len(events) // 2)
        params: Dict[str, Any] = fault.params if fault else {}
        for index, event in enumerate(events):
            if index and site.delay:
                time.sleep(site.delay)
            if name == "drop" and index == cut:
                self.close_connection = True
                return  # no terminating chunk, no end event
            if name == "stall" and index == cut:
                site._stopping.wait(float(params.get("seconds", 30)))
                self.close_connection = True
                return
            if name == "endless_line" and index == cut:
                self._endless(write, int(params.get("size", 64 * 1024 * 1024)))
                return
            write(_encode_event(event))
            self.record.events_written += 1
            now = time.perf_counter()
            if self.record.first_event_at is None:
                self.record.first_event_at = now
            self.record.last_event_at = now
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _endless(self, write, size: int) -> None:
        self.close_connection = True
        write(b"data: ")
        block = b"x" * 65536
        sent = 0
        while sent < size and not self.site._stopping.is_set():
            write(block)
            sent += len(block)


def _is_aipkit(version: str) -> bool:
    """AI Power 2.3 and later is the AIPKit rewrite."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (numbers[0], numbers[1]) >= (2, 3)


def _encode_event(event: Any) -> bytes:
    if isinstance(event, tuple):  # (event name, raw data line)
        name, data = event
        return f"event: {name}\ndata: {data}\n\n".encode()
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return f"data: {event}\n\n".encode()
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _openai_chunks(reply: str) -> List[Any]:
    chunks: List[Any] = []
    for index, word in enumerate(words(reply)):
        chunk: Dict[str, Any] = {"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                                 "created": 1700000000, "model": "gpt-4o-mini",
                                 "choices": [{"index": 0, "delta": {"content": word},
                                              "finish_reason": None}]}
        if index == 0:
            chunk["choices"][0]["delta"]["role"] = "assistant"
        chunks.append(chunk)
    chunks.append({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return chunks


def _broken_word(word: str) -> str:
    """The plugin writes error words into JSON by hand, without escaping."""
    return '{"choices":[{"delta":{"content":"' + word + '"}}]}'


def _malformed(events: List[Any]) -> List[Any]:
    noise: List[Any] = [b": keep-alive comment\n\n", b"data: {not json at all\n\n",
                        b"retry: 3000\nid: 7\nfoo: bar\n\n", b"data:\n\n"]
    mixed: List[Any] = []
    for index, event in enumerate(events):
        mixed.append(noise[index % len(noise)])
        mixed.append(event)
    return mixed


def _power_history(raw: str) -> List[str]:
    """Decode ``wpaicg_chat_history`` the way the plugin does: backslashes stripped first."""
    try:
        items = json.loads(raw.replace("\\", ""))
    except ValueError:
        return []
    texts = []
    for item in items if isinstance(items, list) else []:
        text = str(item.get("text", "")) if isinstance(item, dict) else ""
        texts.append(re.sub(r"^(Human|AI): ", "", text))
    return texts

