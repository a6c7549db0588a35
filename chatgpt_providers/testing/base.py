"""The stand-in's shared machinery: the request log, faults, the deterministic reply, and
the HTTP handler every plugin module's routes run in (dispatch, plain answers, streaming).

A plugin module adds one :class:`StandInPlugin` subclass: its routes (``_route_<name>``
methods), which requests reach them, and its part of the page; and, as a :class:`SiteState`
extended with its own settings, what its routes read of the site. This module knows no plugin
and no site: the site (``site.py``) composes the plugins.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Dict, List, Optional, Protocol, Tuple, Type
from urllib.parse import parse_qs, urlsplit

__all__ = ["FAULTS", "RecordedRequest", "SiteState", "StandInPlugin", "SiteHandler", "make_reply",
           "words", "new_nonce", "encode_event", "malformed"]

log = logging.getLogger("chatgpt_providers")

FAULTS = (
    "error_event", "limited", "drop", "expired_nonce", "rate_limit", "http_500", "http_502",
    "http_503", "cloudflare", "malformed_sse", "json_instead_of_sse", "sse_instead_of_json",
    "token_limit", "banned_word", "banned_ip", "unsupported", "stall", "endless_line",
    "expired_key", "guests_disabled", "foreign_origin", "warning", "citations",
)
TARGETS = ("chat", "page", "session", "cache", "any")
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
    >>> from chatgpt_providers.testing import LocalSite
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
    #: ``time.perf_counter()`` when each streamed event was written, in order (the first text
    #: of AI Power 2.3+ comes after its padding comment, ``message_start`` and ``status``).
    events_at: List[float] = field(default_factory=list)
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
        ['connection', 'events_at', 'events_written']
        """
        return {"method": self.method, "path": self.path, "route": self.route,
                "status": self.status, "connection": self.connection,
                "events_written": self.events_written, "started_at": self.started_at,
                "finished_at": self.finished_at, "first_event_at": self.first_event_at,
                "last_event_at": self.last_event_at, "events_at": list(self.events_at)}

    @property
    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    @property
    def form(self) -> Dict[str, str]:
        """The body decoded as a form (last value of each field)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Fault:
    name: str
    remaining: int
    target: str
    params: Dict[str, Any] = field(default_factory=dict)


def new_nonce() -> str:
    """A WordPress-style nonce: 10 lowercase hex characters.

    >>> len(new_nonce())
    10
    """
    return secrets.token_hex(5)


_CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
    "<div id=\"challenge-platform\">Checking if the site connection is secure</div></body></html>"
)


class SiteState(Protocol):
    """What the shared handler reads of the site it serves (``LocalSite`` has it). Each plugin
    module extends it with the settings its own routes read, so the handler is typed without
    knowing the site's class, and the site is checked against every plugin's needs.
    """

    host: str
    delay: float
    latency: float
    framing: str
    pretty_permalinks: bool
    #: The plugins the page shows, by ``StandInPlugin.plugin``.
    plugins: Tuple[str, ...]
    pages: Tuple[str, ...]
    requests: List[RecordedRequest]
    connections: int
    _lock: threading.Lock
    _stopping: threading.Event

    def _take_fault(self, kind: Optional[str], header: Optional[str]) -> Optional[Fault]: ...

    def clear_log(self) -> None: ...

    def inject(self, fault: str, count: int = 1, *, target: str = "chat", **params: Any) -> None: ...


class StandInPlugin:
    """One chatbot plugin of the stand-in: its ``_route_<name>`` handler methods (mixed into
    the site's handler), which requests reach them, and its part of the page.

    >>> StandInPlugin.rest_route(None, "POST", "/wp-json/x") is None
    True
    """

    #: The name in ``LocalSite(plugins=...)``.
    plugin: ClassVar[str] = ""
    #: The releases ``plugin@release`` may name, in words: the protocol eras of
    #: ``docs/protocols/versions.md``, from the oldest.
    releases: ClassVar[str] = ""
    #: The oldest release served.
    oldest: ClassVar[Tuple[int, ...]] = ()
    #: Route name -> fault target (``"chat"``, ``"session"``) for ``site.inject``.
    fault_targets: ClassVar[Dict[str, str]] = {}

    @classmethod
    def shown(cls, site: SiteState) -> bool:
        """Whether the site runs this plugin (its page part shows, its routes answer)."""
        return cls.plugin in site.plugins

    @classmethod
    def rest_route(cls, site: Any, method: str, path: str) -> Optional[str]:
        """The route for a REST path (``/wp-json/...``), or None when not this plugin's."""
        return None

    @classmethod
    def ajax_route(cls, site: SiteState, method: str, action: str) -> Optional[str]:
        """The route for an ``admin-ajax.php`` action, or None when not this plugin's."""
        return None

    @classmethod
    def page_head(cls, site: SiteState, base: str) -> str:
        """HTML for the page's ``<head>`` (scripts)."""
        return ""

    @classmethod
    def page_body(cls, site: SiteState, base: str) -> str:
        """HTML for the page's body (the chatbot's container)."""
        return ""


class SiteHandler(BaseHTTPRequestHandler):
    """The stand-in's HTTP handler; the site composes it with its plugins' routes."""

    #: The site served (each plugin module narrows it to its own SiteState).
    site: SiteState
    plugins: ClassVar[Tuple[Type[StandInPlugin], ...]] = ()
    record: RecordedRequest
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

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True  # the client went away between requests

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
        route = self._route(method, route_path, query, body)
        record = RecordedRequest(method, parts.path, query, dict(self.headers.items()), body,
                                 route, self.connection_number, started_at=time.perf_counter())
        with self.site._lock:
            self.site.requests.append(record)
        self.record = record
        if self.site.latency:
            time.sleep(self.site.latency)
        fault = self.site._take_fault(self._fault_target(route), self.headers.get("X-Fault"))
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

    def _route(self, method: str, path: str, query: Dict[str, List[str]], body: bytes) -> str:
        site = self.site
        if path.startswith("/wp-json/"):
            if not (site.pretty_permalinks or "rest_route" in query):
                return "not_found"
            for plugin in self.plugins:
                route = plugin.rest_route(site, method, path) if plugin.shown(site) else None
                if route:
                    return route
            return "no_route"
        if path == "/wp-admin/admin-ajax.php":
            fields = dict(query)
            if method == "POST" and body:
                fields.update(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
            action = (fields.get("action") or [""])[-1]
            for plugin in self.plugins:
                route = plugin.ajax_route(site, method, action)
                if route:
                    return route
            return "ajax_unknown"
        if method == "GET" and (path in site.pages or path == "/index.php"):
            return "page"
        return "not_found"

    def _fault_target(self, route: str) -> Optional[str]:
        if route == "page":
            return "page"
        for plugin in self.plugins:
            if route in plugin.fault_targets:
                return plugin.fault_targets[route]
        return None

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
        return self.site.framing == "close" and self._fault_target(self.record.route) == "chat"

    def _generic_fault(self, fault: Fault) -> bool:
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

    def _route_not_found(self, body: bytes, fault: Optional[Fault]) -> None:
        """WordPress's 404 page: the theme's "not found" template, no chatbot on it."""
        self._send(404, '<!DOCTYPE html>\n<html lang="en-US"><head><title>Page not found - '
                        "Stand-in chatbot site</title></head><body class=\"error404\"><h1>"
                        "Oops! That page can&rsquo;t be found.</h1></body></html>",
                   "text/html; charset=UTF-8")

    def _route_no_route(self, body: bytes, fault: Optional[Fault]) -> None:
        self._send(404, {"code": "rest_no_route",
                         "message": "No route was found matching the URL and request method.",
                         "data": {"status": 404}})

    def _route_ajax_unknown(self, body: bytes, fault: Optional[Fault]) -> None:
        """What WordPress answers for an action no plugin registered."""
        self._send(400, "0", "text/html; charset=UTF-8")

    # -- the page ------------------------------------------------------------------------

    def _route_page(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        base = f"http://{self.headers.get('Host') or site.host}"
        shown = [plugin for plugin in self.plugins if plugin.shown(site)]
        parts = ['<!DOCTYPE html>\n<html lang="en-US"><head><meta charset="UTF-8">'
                 "<title>Stand-in chatbot site</title>"]
        parts += [plugin.page_head(site, base) for plugin in shown]
        parts.append("</head><body>\n<h1>Stand-in WordPress site</h1>")
        parts += [plugin.page_body(site, base) for plugin in shown]
        parts.append("<p>A blog post.</p></body></html>")
        self._send(200, "\n".join(part for part in parts if part), "text/html; charset=UTF-8")

    # -- streaming -----------------------------------------------------------------------

    def _stream(self, events: List[Any], fault: Optional[Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        params: Dict[str, Any] = fault.params if fault else {}
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
            data = encode_event(event)
            if chunked and index == len(events) - 1:
                # The last event and the body's end leave together, as from a server whose
                # script has ended: the client can keep the connection (the stream is whole).
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
                chunked = False
            else:
                write(data)
            self.record.events_written += 1
            now = time.perf_counter()
            if self.record.first_event_at is None:
                self.record.first_event_at = now
            self.record.last_event_at = now
            self.record.events_at.append(now)
        if chunked:  # no events at all
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


def encode_event(event: Any) -> bytes:
    if isinstance(event, tuple):  # (event name, raw data line)
        name, data = event
        return f"event: {name}\ndata: {data}\n\n".encode()
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return f"data: {event}\n\n".encode()
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def malformed(events: List[Any]) -> List[Any]:
    noise: List[Any] = [b": keep-alive comment\n\n", b"data: {not json at all\n\n",
                        b"retry: 3000\nid: 7\nfoo: bar\n\n", b"data:\n\n"]
    mixed: List[Any] = []
    for index, event in enumerate(events):
        mixed.append(noise[index % len(noise)])
        mixed.append(event)
    return mixed
