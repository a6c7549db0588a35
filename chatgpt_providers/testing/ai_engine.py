"""The stand-in's AI Engine: the ``mwai-chatbot-container`` on the page, ``start_session``
and ``chats/submit``, as ``docs/protocols/ai-engine.md`` describes them, and the older eras of
``docs/protocols/versions.md`` when the site runs a release (``plugins=("ai-engine@1.9",)``):

=====  ===============  ========================================================================
era    releases         page and routes
=====  ===============  ========================================================================
F      2.4.4 and later  (the default) ``start_session``; ``chats/submit`` needs its nonce
E      2.0.0 - 2.4.3    no ``start_session``; the page's ``restNonce`` is required
D      1.6.76 - 1.9.99  no ``start_session``; ``restNonce`` null; guests send no nonce, a wrong
                        one is refused (403)
C      1.4.1 - 1.6.75   ``data-system`` with ``id``/``chatId``; ``POST mwai-bot/v1/chat``, JSON
                        only; no ``mwai-ui`` routes
B      0.6.9 - 1.4.0    the legacy ``[mwai_chat]`` page: ``let restNonce``, ``let apiURL``
                        (``ai-chatbot/v1/chat``), a transcript ``prompt``; JSON only
A      0.2.2 - 0.6.8    as B at ``ai-engine/v1/chat``
=====  ===============  ========================================================================

An unknown ``botId`` gets the default bot, as on the releases checked (3.6.2, 3.7.2).
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any, Dict, List, Optional, Protocol, Tuple

from .base import Fault, SiteHandler, SiteState, StandInPlugin, make_reply, malformed, new_nonce, words

__all__ = ["AIEngineSite", "engine_era", "LEGACY_SETTINGS"]

#: (first release, era), newest first.
_ERAS: Tuple[Tuple[Tuple[int, ...], str], ...] = (
    ((2, 4, 4), "F"), ((2, 0, 0), "E"), ((1, 6, 76), "D"), ((1, 4, 1), "C"), ((0, 6, 9), "B"),
    ((0, 0), "A"))
#: The legacy page's settings as its script declares them.
LEGACY_SETTINGS: Dict[str, Any] = {
    "env": "chatbot", "context": "Converse as if you were an AI assistant. Be friendly.",
    "userName": "User: ", "aiName": "AI: ", "model": "gpt-3.5-turbo", "temperature": 0.8,
    "maxTokens": 1024, "maxResults": 1, "apiKey": "", "service": "openai",
    "embeddingsIndex": "", "stop": ""}
#: The file time AI Engine stamps its scripts with (``?ver=``): not a version.
_FILE_TIME = "1700194369"


def engine_era(release: Optional[str]) -> str:
    """The protocol era of an AI Engine release (None: the current one, ``"F"``).

    >>> engine_era("1.9.99"), engine_era("1.6.75"), engine_era("1.6"), engine_era(None)
    ('D', 'C', 'C', 'F')
    >>> engine_era("2.0"), engine_era("0.6"), engine_era("1.0")
    ('E', 'A', 'B')
    """
    if release is None:
        return "F"
    numbers = (tuple(int(n) for n in release.split(".")) + (0, 0, 0))[:3]
    for first, era in _ERAS:
        if numbers >= first:
            return era
    return "A"


class EngineSiteState(SiteState, Protocol):
    """What AI Engine's routes read of the site (see ``LocalSite`` for each setting)."""

    engine_nonce: str
    engine_release: Optional[str]
    engine_start_session: bool
    rotate_nonce: bool
    max_input: Optional[int]


class AIEngineSite(StandInPlugin, SiteHandler):
    """AI Engine's routes and page part (mixed into the site's handler).

    >>> from chatgpt_providers.testing import LocalSite
    >>> AIEngineSite.rest_route(LocalSite(), "GET", "/wp-json/mwai-ui/v1/chats/submit")
    'no_route'
    >>> AIEngineSite.rest_route(LocalSite(plugins=("ai-engine@1.6",)), "POST",
    ...                         "/wp-json/mwai-ui/v1/chats/submit") is None
    True
    """

    site: EngineSiteState
    plugin = "ai-engine"
    releases = ("0.2.2 and later (eras A to F: 0.6 legacy page, 1.0 legacy page at ai-chatbot/v1, "
                "1.6 mwai-bot/v1/chat, 1.9 no nonce, 2.0 page nonce, 2.4.4+ start_session)")
    oldest = (0, 2, 2)
    fault_targets = {"submit": "chat", "session": "session", "bot_chat": "chat", "legacy_chat": "chat"}

    @classmethod
    def era(cls, site: Any) -> str:
        return engine_era(site.engine_release)

    @classmethod
    def rest_route(cls, site: Any, method: str, path: str) -> Optional[str]:
        era = cls.era(site)
        if era in ("A", "B"):
            legacy = "/wp-json/ai-engine/v1/chat" if era == "A" else "/wp-json/ai-chatbot/v1/chat"
            return "legacy_chat" if path.rstrip("/") == legacy and method == "POST" else None
        if era == "C":
            return "bot_chat" if path == "/wp-json/mwai-bot/v1/chat" and method == "POST" else None
        if path == "/wp-json/mwai/v1/start_session":
            started = era == "F" and method == "POST" and site.engine_start_session
            return "session" if started else "no_route"
        if path == "/wp-json/mwai-ui/v1/chats/submit":
            return "submit" if method == "POST" else "no_route"
        return None

    @classmethod
    def page_head(cls, site: Any, base: str) -> str:
        return (f"<script src='{base}/wp-content/plugins/ai-engine/app/chatbot.js?ver={_FILE_TIME}' "
                "id='mwai_chatbot-js'></script>")

    @classmethod
    def page_body(cls, site: Any, base: str) -> str:
        era = cls.era(site)
        rest_url = f"{base}/wp-json" if site.pretty_permalinks else f"{base}/index.php?rest_route="
        if era in ("A", "B"):
            return cls._legacy_page(site, base, era)
        if era == "C":
            system: Dict[str, Any] = {
                "id": None, "chatId": "default", "userData": None, "sessionId": "6745f0c2a1b3e",
                "restNonce": site.engine_nonce, "contextId": 58, "restUrl": rest_url,
                "pluginUrl": f"{base}/wp-content/plugins/ai-engine/", "debugMode": False}
        else:
            nonce_on_page = era == "E" or (era == "F" and not site.engine_start_session)
            system = {
                "botId": "default", "customId": None, "userData": None, "sessionId": None,
                "restNonce": site.engine_nonce if nonce_on_page else None,
                "contextId": 58, "pluginUrl": f"{base}/wp-content/plugins/ai-engine/",
                "restUrl": rest_url, "stream": True, "debugMode": False, "typewriter": False,
            }
        data_system = html.escape(json.dumps(system), quote=True)
        return f"""<div class='mwai-chatbot-container'
     data-params='{{&quot;aiName&quot;:&quot;AI: &quot;}}'
     data-system='{data_system}' data-theme='{{}}'></div>"""

    @classmethod
    def _legacy_page(cls, site: Any, base: str, era: str) -> str:
        route = "ai-engine/v1/chat" if era == "A" else "ai-chatbot/v1/chat"
        lines = ["<div id='mwai-chat-id' class='mwai-chat'><div class='mwai-conversation'></div>"
                 "<div class='mwai-input'><textarea rows='1'></textarea><button>Send</button>"
                 "</div></div>", "<script>", "(function () {",
                 f"  let restNonce = '{site.engine_nonce}';",
                 f"  let apiURL = '{base}/wp-json/{route}';",
                 "  let sessionId = '6745f0c2a1b3e';"]
        for name, value in LEGACY_SETTINGS.items():
            literal = (json.dumps(value) if not isinstance(value, str)
                       else "'" + value.replace("'", "\\'") + "'")
            lines.append(f"  let {name} = {literal};")
        lines += ["  // prompt = context + '\\n' + lines + '\\n' + aiName", "})();", "</script>"]
        return "\n".join(lines)

    def _route_session(self, body: bytes, fault: Optional[Fault]) -> None:
        session_id = secrets.token_hex(6)
        self._send(200, {"success": True, "sessionId": session_id,
                         "restNonce": self.site.engine_nonce},
                   headers={"Set-Cookie": f"mwai_session_id={session_id}; path=/; HttpOnly"})

    def _route_submit(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        nonce = self.headers.get("X-WP-Nonce")
        if name == "unsupported":
            return self._route_no_route(body, fault)
        if self.era(site) == "D":
            if self._nonce_refused(fault):  # guests send none; any nonce given is checked
                return
        elif not nonce:
            return self._send(401, {"code": "rest_forbidden",
                                    "message": "Sorry, you are not allowed to do that.",
                                    "data": {"status": 401}})
        elif nonce != site.engine_nonce or name == "expired_nonce":
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
                site.engine_nonce = new_nonce()
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
            events = malformed(events)
        self._stream(events, fault)

    def _nonce_refused(self, fault: Optional[Fault]) -> bool:
        """Routes open to guests still check any ``X-WP-Nonce`` they are given (WordPress)."""
        nonce = self.headers.get("X-WP-Nonce")
        if (nonce is not None and nonce != self.site.engine_nonce) or (
                fault is not None and fault.name == "expired_nonce"):
            self._send(403, {"code": "rest_cookie_invalid_nonce", "message": "Cookie check failed",
                             "data": {"status": 403}})
            return True
        return False

    def _json_answer(self, fault: Optional[Fault], message: str, history: List[str],
                     **extra: Any) -> None:
        site = self.site
        name = fault.name if fault else ""
        too_long = site.max_input is not None and len(message) > site.max_input
        if not message.strip() or too_long or name == "banned_word":
            return self._send(403, {"success": False,
                                    "message": "Sorry, your query has been rejected."})
        if name == "error_event":
            return self._send(500, {"success": False, "message": "Oops! Something went wrong "
                                                                 "on the server."})
        reply = make_reply(message, history)
        self._send(200, {"success": True, "reply": reply, **extra,
                         "html": "<p>" + html.escape(reply) + "</p>",
                         "usage": {"prompt_tokens": len(message.split()),
                                   "completion_tokens": len(words(reply)),
                                   "total_tokens": len(message.split()) + len(words(reply))}})

    def _route_bot_chat(self, body: bytes, fault: Optional[Fault]) -> None:
        """Era C: ``{id, chatId, session, clientId, contextId, messages, newMessage}``, JSON."""
        if fault is not None and fault.name == "unsupported":
            return self._route_no_route(body, fault)
        if self._nonce_refused(fault):
            return
        try:
            request = json.loads(body)
            message = str(request.get("newMessage") or "")
            history = [str(m.get("content", "")) for m in request.get("messages") or []]
        except (ValueError, AttributeError):
            return self._send(400, {"code": "rest_invalid_json", "message": "Invalid JSON body."})
        self._json_answer(fault, message, history, images=None)

    def _route_legacy_chat(self, body: bytes, fault: Optional[Fault]) -> None:
        """Eras A/B: the server completes the transcript ``prompt`` the page built."""
        if fault is not None and fault.name == "unsupported":
            return self._route_no_route(body, fault)
        if self._nonce_refused(fault):
            return
        try:
            request = json.loads(body)
            prompt = request["prompt"]
            if not isinstance(prompt, str):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self._send(200, {"success": False, "message": "The prompt is missing."})
        turns = _transcript_turns(prompt)
        if not turns:
            return self._send(200, {"success": False, "message": "The prompt is empty."})
        self._json_answer(fault, turns[-1], turns[:-1])


def _transcript_turns(prompt: str) -> List[str]:
    """The turns of a legacy transcript (context line first, ``aiName`` last), as the model
    would read them: empty when it does not end with the AI's name.

    >>> _transcript_turns("Be nice.\\nUser: Hi\\nAI: Hello\\nUser: How\\nare you?\\nAI: ")
    ['Hi', 'Hello', 'How\\nare you?']
    """
    user, ai = LEGACY_SETTINGS["userName"], LEGACY_SETTINGS["aiName"]
    context = LEGACY_SETTINGS["context"]
    if not prompt.endswith("\n" + ai):
        return []
    body = prompt[: -len(ai) - 1]
    if body.startswith(context):
        body = body[len(context):].lstrip("\n")
    turns: List[str] = []
    for line in body.split("\n"):
        if line.startswith(user) or line.startswith(ai):
            turns.append(line[len(user if line.startswith(user) else ai):])
        elif turns:
            turns[-1] += "\n" + line
    return turns
