"""The stand-in's AI Power 2.3+ ("AIPKit"): the ``data-config`` container on the page, the
nonce refresh, the cache POST and the SSE stream, with the server-side history, as
``docs/protocols/aipkit.md`` describes them.

Cache keys are single-use and expire after ``site.aipkit_cache_ttl`` seconds; the history is
kept per (bot, ``session_id``, ``conversation_uuid``), and what would go upstream (the last
``site.aipkit_max_messages`` logged messages and the new one) is recorded in
``site.aipkit.upstream`` for tests. Faults (``site.inject``, target ``"chat"`` for the stream,
``"cache"`` for the cache POST, ``"session"`` for the nonce refresh):

===================  ==========================================================================
``error_event``      ``API Error: ...`` after ``message_start`` and some text, no ``done``
``limited``          ``Connection Error: ...`` after ``message_start``, no text, no ``done``
``expired_nonce``    stream: "Security check failed" + ``done`` (key kept); cache: 403
``expired_key``      "Cached message has expired." + ``done``
``token_limit``      the guest quota, with ``quota_notice``, + ``done``
``banned_word``      a moderation refusal + ``done``; ``banned_ip``: the IP block text
``guests_disabled``  "Access disabled for guests." + ``done``
``foreign_origin``   the Origin check fails: cache 403 ``cors_denied``; stream error + ``done``
``warning``          a ``warning`` event before ``done`` (not fatal); ``citations``: sources
``unsupported``      HTTP 400 ``0``, as for an unknown action
===================  ==========================================================================
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from typing import Any, Dict, List, Optional, Protocol, Tuple
from urllib.parse import parse_qs, urlsplit

from .ai_power import AIPowerSite, is_aipkit_version, version_tuple
from .base import Fault, SiteHandler, SiteState, StandInPlugin, make_reply, malformed, words

__all__ = ["AIPKitSite", "AIPKitState"]

_ACTIONS = {
    "aipkit_get_frontend_chat_nonce": "aipkit_nonce",
    "aipkit_cache_sse_message": "aipkit_cache",
    "aipkit_frontend_chat_stream": "aipkit_stream",
    "aipkit_get_conversation_history": "aipkit_history",
    "aipkit_frontend_chat_message": "aipkit_message",
}
_PADDING = b":" + b" " * 4096 + b"\n\n"
_KEY_ALPHABET = string.ascii_letters + string.digits
_NONCE_FAILURE = ("Your session has expired or the request is invalid. Please refresh the page and "
                  "try again.")
_SECURITY = "Security check failed. Please refresh the page and try again."
_FOREIGN = "This domain is not permitted to access the chatbot."
_DEFAULT_VERSION = "2.4.71"


class AIPKitState:
    """What the plugin keeps on the server: cache keys and conversations.

    >>> AIPKitState().cache
    {}
    """

    def __init__(self) -> None:
        #: cache_key -> (message, time cached)
        self.cache: Dict[str, Tuple[str, float]] = {}
        #: (bot, session_id, conversation_uuid) -> logged messages [{"role", "content"}]
        self.history: Dict[Tuple[str, str, str], List[Dict[str, str]]] = {}
        #: What each stream would have sent upstream: the messages, system prompt left out.
        self.upstream: List[List[Dict[str, str]]] = []


class AIPKitSiteState(SiteState, Protocol):
    """What AI Power 2.3+'s routes read of the site (see ``LocalSite`` for each setting)."""

    aipkit: AIPKitState
    aipkit_nonce: str
    aipkit_release: Optional[str]
    aipkit_bot_id: str
    aipkit_max_messages: int
    aipkit_cache_ttl: float
    aipkit_popup: bool
    #: ``"2.3"`` or later makes ``"ai-power"`` this plugin.
    ai_power_version: str
    ai_power_stream: bool


class AIPKitSite(StandInPlugin, SiteHandler):
    """AI Power 2.3+'s routes and page part (mixed into the site's handler).

    >>> AIPKitSite.fault_targets["aipkit_stream"]
    'chat'
    """

    site: AIPKitSiteState
    plugin = "aipkit"
    releases = "2.3 and later (2.3: no nonce refresh action, no padding; 2.4.1+: current)"
    oldest = (2, 3)
    fault_targets = {"aipkit_stream": "chat", "aipkit_cache": "cache", "aipkit_nonce": "session",
                     "aipkit_message": "chat"}

    @classmethod
    def shown(cls, site: Any) -> bool:
        return cls.plugin in site.plugins or (
            AIPowerSite.plugin in site.plugins and is_aipkit_version(site.ai_power_version))

    @classmethod
    def ajax_route(cls, site: Any, method: str, action: str) -> Optional[str]:
        if action == "aipkit_frontend_chat_message" and cls.since(site, (2, 4, 1)):
            return None  # 2.4.1 removed the JSON action: every bot streams
        return _ACTIONS.get(action) if cls.shown(site) else None

    @classmethod
    def version(cls, site: Any) -> str:
        if site.aipkit_release:
            return str(site.aipkit_release)
        return site.ai_power_version if is_aipkit_version(site.ai_power_version) else _DEFAULT_VERSION

    @classmethod
    def since(cls, site: Any, release: Tuple[int, int, int]) -> bool:
        """Whether the site's release is ``release`` or later (``docs/protocols/aipkit.md`` 7)."""
        return version_tuple(cls.version(site)) >= release

    @classmethod
    def page_head(cls, site: Any, base: str) -> str:
        dist = f"{base}/wp-content/plugins/gpt3-ai-content-generator/dist"
        # The stylesheet comes first and carries a file time, not the version.
        return (f"<link rel='stylesheet' id='aipkit-public-main-css' href='{dist}/css/"
                f"public-main.bundle.css?ver=1787344627' media='all' />\n"
                f"<script src='{dist}/js/public-main.bundle.js?ver={cls.version(site)}' "
                "id='aipkit-public-main-js'></script>\n"
                "<script>var aipkit_chat_config_global = {\"text\": {\"typing\": \"Thinking\"}};</script>")

    @classmethod
    def page_body(cls, site: Any, base: str) -> str:
        bot = site.aipkit_bot_id
        config = {"botId": int(bot) if bot.isdigit() else bot, "ajaxUrl": f"{base}/wp-admin/admin-ajax.php",
                  "nonce": site.aipkit_nonce, "postId": 7, "requireConsentCompliance": False,
                  "provider": "OpenAI",
                  "text": {"placeholder": "Type your message...", "sending": "Sending <b>...</b>",
                           "apos": "It's"}}
        if not cls.since(site, (2, 4, 1)):  # up to 2.4.0: the bot's streaming setting
            config["streamEnabled"] = bool(site.ai_power_stream)
        data = _attribute_json(config)
        link = '<p><a href="/aipkit-chat/">Our aipkit chat page</a></p>'
        if site.aipkit_popup:
            return (f"{link}\n<div class=\"aipkit_popup_wrapper  aipkit_popup_position-bottom-right\" "
                    f"id=\"aipkit_popup_wrapper_{bot}\" data-config='{data}' data-bot-id=\"{bot}\">\n"
                    f"  <div class=\"aipkit_chat_container aipkit_popup_content\" "
                    f"id=\"aipkit_chat_container_{bot}\"></div>\n</div>")
        return (f"{link}\n<div class=\"aipkit_chat_container  aipkit-theme-custom aipkit-inline\" "
                f"id=\"aipkit_chat_container_{bot}\" data-bot-id=\"{bot}\" data-config='{data}'>"
                "</div>")

    # -- requests ------------------------------------------------------------------------

    def _aipkit_fields(self, body: bytes) -> Dict[str, str]:
        fields = {k: v[-1] for k, v in self.record.query.items()}
        if self.command == "POST" and body:
            fields.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                         keep_blank_values=True).items()})
        return fields

    def _foreign_origin(self, fields: Dict[str, str], fault: Optional[Fault]) -> bool:
        """The plugin's Origin check: only when bot_id is present; absent or same host and
        scheme is fine (the port is not compared)."""
        if fault is not None and fault.name == "foreign_origin":
            return True
        origin = self.headers.get("Origin")
        if not origin or "bot_id" not in fields:
            return False
        host = (self.headers.get("Host") or "").split(":")[0]
        parts = urlsplit(origin)
        return parts.scheme != "http" or (parts.hostname or "") != host

    def _route_aipkit_nonce(self, body: bytes, fault: Optional[Fault]) -> None:
        unknown = not self.since(self.site, (2, 3, 41))
        if unknown or (fault is not None and fault.name == "unsupported"):  # before 2.3.41: no such action
            return self._send(400, "0", "text/html; charset=UTF-8")
        fields = self._aipkit_fields(body)
        if self._foreign_origin(fields, fault):
            return self._send(403, {"success": False, "data": {"message": _FOREIGN, "code": "cors_denied"}})
        self._send(200, {"success": True, "data": {"nonce": self.site.aipkit_nonce}},
                   headers={"Cache-Control": "no-cache, must-revalidate, max-age=0"})

    def _route_aipkit_cache(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        if name == "unsupported":
            return self._send(400, "0", "text/html; charset=UTF-8")
        fields = self._aipkit_fields(body) if self.command == "POST" else {}
        if fields.get("_ajax_nonce") != site.aipkit_nonce or name == "expired_nonce":
            return self._send(403, {"success": False, "data": {
                "message": _NONCE_FAILURE, "code": "nonce_failure_cache_sse"}})
        if self._foreign_origin(fields, fault):
            return self._send(403, {"success": False, "data": {"message": _FOREIGN, "code": "cors_denied"}})
        message = fields.get("message", "")
        if message in ("", "0"):
            return self._send(400, {"success": False, "data": {
                "message": "Data to cache (message or image) cannot be empty.",
                "code": "empty_data_to_cache"}})
        key = "aipkit_sse_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        with site._lock:
            site.aipkit.cache[key] = (message, time.monotonic())
        self._send(200, {"success": True, "data": {"cache_key": key}})

    def _route_aipkit_message(self, body: bytes, fault: Optional[Fault]) -> None:
        """2.3 - 2.4.0: the JSON action browsers use for a bot with streaming off (no nonce
        check before 2.3.20); the stream serves those bots too."""
        site = self.site
        fields = self._aipkit_fields(body)
        if self.since(site, (2, 3, 20)) and fields.get("_ajax_nonce") != site.aipkit_nonce:
            return self._send(403, {"success": False, "data": {"message": _NONCE_FAILURE}})
        message = fields.get("message", "")
        if message in ("", "0"):
            return self._send(400, {"success": False, "data": {"message": "Message cannot be empty."}})
        self._send(200, {"success": True, "data": {"reply": make_reply(message, []),
                                                   "message_id": "aipkit-msg-standin",
                                                   "openai_response_id": None}})

    def _route_aipkit_history(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        fields = self._aipkit_fields(body)
        if fields.get("_ajax_nonce") != site.aipkit_nonce:
            return self._send(403, {"success": False, "data": {"message": _NONCE_FAILURE,
                                                               "code": "nonce_failure"}})
        key = (fields.get("bot_id", ""), fields.get("session_id", ""),
               _reduce_id(fields.get("conversation_uuid", "")))
        with site._lock:
            history = list(site.aipkit.history.get(key, []))
        self._send(200, {"success": True, "data": {"history": history}})

    def _route_aipkit_stream(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        if name == "unsupported":
            return self._send(400, "0", "text/html; charset=UTF-8")
        fields = self._aipkit_fields(body)
        head: List[Any] = [_PADDING] if self.since(site, (2, 3, 93)) else []
        security = _SECURITY if self.since(site, (2, 3, 20)) else "Security check failed (nonce)."

        def refuse(text: str, **extra: Any) -> None:
            self._stream(head + [_error_event(text, **extra), _named("done", {"finished": True})], None)

        if self._foreign_origin(fields, fault):
            return refuse(_FOREIGN)
        if fields.get("_ajax_nonce") != site.aipkit_nonce or name == "expired_nonce":
            return refuse(security)  # before the key is read: it stays usable
        key = fields.get("cache_key", "")
        with site._lock:
            cached = site.aipkit.cache.pop(key, None) if key else None
        if not key:
            return refuse("Message cache key is missing.")
        if cached is None:
            return refuse("Message not found in cache.")
        message, cached_at = cached
        if name == "expired_key" or time.monotonic() - cached_at > site.aipkit_cache_ttl:
            return refuse("Cached message has expired.")
        bot = fields.get("bot_id", "")
        session = fields.get("session_id", "")
        conversation = _reduce_id(fields.get("conversation_uuid", ""))
        if bot != site.aipkit_bot_id:
            return refuse("Invalid chatbot specified.")
        if not conversation:
            return refuse("Conversation ID is missing.")
        if not session:
            return refuse("Session ID is missing for guest.")
        refusals = {
            "guests_disabled": ("Access disabled for guests.", {}),
            "token_limit": ("You have reached the message limit for guests.", {"quota_notice": {
                "type": "quota_notice", "message": "Sign in to keep chatting.",
                "actions": [{"label": "Log in", "url": "/wp-login.php", "variant": "primary"}]}}),
            "banned_word": ("Your message contains words that are not allowed.", {}),
            "banned_ip": ("Access from your IP address has been blocked.", {}),
        }
        if name in refusals:
            text, extra = refusals[name]
            return refuse(text, **extra)
        # The user message is logged before the upstream call; the answer only on success.
        thread = (bot, session, conversation)
        with site._lock:
            logged = site.aipkit.history.setdefault(thread, [])
            earlier = logged[-site.aipkit_max_messages:]
            upstream = [dict(m) for m in earlier] + [{"role": "user", "content": message}]
            site.aipkit.upstream.append(upstream)
            logged.append({"role": "user", "content": message,
                           "message_id": fields.get("user_client_message_id", "")})
        reply = make_reply(message, [m["content"] for m in earlier])
        message_id = f"aipkit-msg-{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        events: List[Any] = head + [_named("message_start", {"message_id": message_id})]
        if self.since(site, (2, 3, 69)):
            events.append(_named("status", {"type": "response.created", "status": "in_progress",
                                            "response_id": "resp_standin"}))
        deltas: List[Any] = [{"delta": piece} for piece in words(reply)]
        if not self.since(site, (2, 3, 69)) and len(deltas) > 1:  # 2.3: the id came early
            deltas.insert(len(deltas) - 1, _named("openai_response_id", {"id": "resp_standin"}))
        if name == "error_event":
            events += deltas[:max(1, len(deltas) // 2)]
            events.append(_error_event("API Error: Incorrect API key provided: sk-abc***."))
            return self._stream(events, None)  # no done: the connection just ends
        if name == "limited":
            events.append(_error_event("Connection Error: cURL error 28: Operation timed out after "
                                       "15001 milliseconds with 0 bytes received"))
            return self._stream(events, None)
        events += deltas
        if self.since(site, (2, 3, 69)):
            events.append(_named("openai_response_id", {"id": "resp_standin"}))
        done: Dict[str, Any] = {"finished": True}
        if name == "warning":
            events.append(_named("warning", {"error": "The answer may be incomplete."}))
        if name == "citations":
            sources = [{"url": "https://example.org/source", "title": "A source"}]
            events.append(_named("citations", {"citations": sources}))
            done["citations"] = sources
        events.append(_named("done", done))
        if name == "malformed_sse":
            events = malformed(events)
        if name == "json_instead_of_sse":
            return self._send(200, {"success": True, "data": {"reply": reply, "message_id": message_id}})
        with site._lock:
            logged.append({"role": "bot", "content": reply, "message_id": message_id})
        self._stream(events, fault)


def _reduce_id(value: str) -> str:
    """What the plugin keeps of a conversation_uuid: lower-case ``[a-z0-9_-]``."""
    return re.sub(r"[^a-z0-9_-]", "", value.lower())


def _named(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _error_event(text: str, **extra: Any) -> bytes:
    data = json.dumps({"error": text, **extra}, separators=(",", ":"))
    return f"event: error\nid: err-{int(time.time())}\ndata: {data}\n\n".encode()


def _attribute_json(config: Dict[str, Any]) -> str:
    """``data-config`` as WordPress prints it: JSON with ``\\/`` and HTML-special characters
    as ``\\u00XX`` inside strings, then the quotes escaped for a single-quoted attribute."""
    text = json.dumps(config, ensure_ascii=False).replace("/", "\\/")
    for char, code in (("<", "\\u003C"), (">", "\\u003E"), ("'", "\\u0027"), ("&", "\\u0026")):
        text = text.replace(char, code)
    text = text.replace('\\"', "\\u0022")
    return text.replace('"', "&quot;")
