"""The stand-in's AI Engine: the ``mwai-chatbot-container`` on the page, ``start_session``
and ``chats/submit``, as ``docs/protocols/ai-engine.md`` describes them."""

from __future__ import annotations

import html
import json
import secrets
from typing import Any, Dict, Optional

from .base import Fault, SiteHandler, StandInPlugin, make_reply, malformed, new_nonce, words

__all__ = ["AIEngineSite"]


class AIEngineSite(StandInPlugin, SiteHandler):
    """AI Engine's routes and page part (mixed into the site's handler).

    >>> AIEngineSite.rest_route(None, "GET", "/wp-json/mwai-ui/v1/chats/submit")
    'no_route'
    """

    plugin = "ai-engine"
    fault_targets = {"submit": "chat", "session": "session"}

    @classmethod
    def rest_route(cls, site: Any, method: str, path: str) -> Optional[str]:
        if path == "/wp-json/mwai/v1/start_session":
            return "session" if method == "POST" and site.engine_start_session else "no_route"
        if path == "/wp-json/mwai-ui/v1/chats/submit":
            return "submit" if method == "POST" else "no_route"
        return None

    @classmethod
    def page_body(cls, site: Any, base: str) -> str:
        rest_url = f"{base}/wp-json" if site.pretty_permalinks else f"{base}/index.php?rest_route="
        system = {
            "botId": "default", "customId": None, "userData": None, "sessionId": None,
            "restNonce": None if site.engine_start_session else site.engine_nonce,
            "contextId": 58, "pluginUrl": f"{base}/wp-content/plugins/ai-engine/",
            "restUrl": rest_url, "stream": True, "debugMode": False, "typewriter": False,
        }
        data_system = html.escape(json.dumps(system), quote=True)
        return f"""<div class='mwai-chatbot-container'
     data-params='{{&quot;aiName&quot;:&quot;AI: &quot;}}'
     data-system='{data_system}' data-theme='{{}}'></div>"""

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
