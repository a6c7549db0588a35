"""The stand-in's legacy AI Power (1.8 to 2.2): the ``wpaicg`` containers and
``wpaicgParams`` on the page, and the two ``admin-ajax.php`` chat actions, as
``docs/protocols/ai-power.md`` describes them. ``site.ai_power_version`` picks the era
(``docs/protocols/versions.md``): up to 1.8.79 the handler reads ``$_REQUEST`` (the browser's
GET with every field in the query, or a form POST), a refused nonce is HTTP 200 JSON (up to
1.8.90), and a stream carries the handler's JSON result raw after ``data: [DONE]``; from 1.8.80
a form POST only, and from 1.8.91 a refused nonce is 403 ``text/html``."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Protocol

from .base import Fault, SiteHandler, SiteState, StandInPlugin, make_reply, malformed, words

__all__ = ["AIPowerSite", "is_aipkit_version"]

_ACTIONS = ("wpaicg_chat_shortcode_message", "wpaicg_chatbox_message")
_EXPIRED_PAGE = (
    "The link you followed has expired.</p><p><a href=\"/\">Please try again.</a>"
)


def is_aipkit_version(version: str) -> bool:
    """AI Power 2.3 and later is the AIPKit rewrite."""
    numbers = [int(n) for n in re.findall(r"\d+", version)[:2]] + [0, 0]
    return (numbers[0], numbers[1]) >= (2, 3)


def version_tuple(version: str) -> tuple:
    """``"1.8.79"`` as ``(1, 8, 79)``, padded to three numbers for comparisons.

    >>> version_tuple("1.8") < version_tuple("1.8.80") <= version_tuple("2.2")
    True
    """
    return (tuple(int(n) for n in re.findall(r"\d+", version)[:3]) + (0, 0, 0))[:3]


#: The plugin's stylesheet, enqueued before its script, stamped with a file time (not a version).
_STYLE_TIME = "1787344627"


class PowerSiteState(SiteState, Protocol):
    """What legacy AI Power's routes read of the site (see ``LocalSite`` for each setting)."""

    power_nonce: str
    ai_power_version: str
    ai_power_stream: bool
    ai_power_bot_id: str


class AIPowerSite(StandInPlugin, SiteHandler):
    """Legacy AI Power's routes and page part (mixed into the site's handler).

    >>> AIPowerSite.ajax_route(None, "POST", "wpaicg_chatbox_message")
    'ajax'
    """

    site: PowerSiteState
    plugin = "ai-power"
    releases = ("1.8 and later (1.8: GET or POST, raw JSON after [DONE]; 1.9 to 2.2: form POST; "
                "2.3+: the AIPKit rewrite)")
    oldest = (1, 8)
    fault_targets = {"ajax": "chat"}

    @classmethod
    def shown(cls, site: Any) -> bool:
        return cls.plugin in site.plugins and not is_aipkit_version(site.ai_power_version)

    @classmethod
    def reads_request(cls, site: Any) -> bool:
        """Up to 1.8.79 the handler reads ``$_REQUEST``: a GET with the query works too."""
        return version_tuple(site.ai_power_version) <= (1, 8, 79)

    @classmethod
    def ajax_route(cls, site: Any, method: str, action: str) -> Optional[str]:
        # A 2.3+ site answers these actions too: HTTP 400 "0", from the same route.
        if action not in _ACTIONS:
            return None
        return "ajax" if method == "POST" or cls.reads_request(site) else None

    @classmethod
    def page_head(cls, site: Any, base: str) -> str:
        escaped_base = base.replace("/", "\\/")
        params = json.dumps({"ajax_url": "AJAX", "search_nonce": site.power_nonce, "logged_in": "0"})
        params = params.replace('"AJAX"', f'"{escaped_base}\\/wp-admin\\/admin-ajax.php"')
        folder = f"{base}/wp-content/plugins/gpt3-ai-content-generator/public"
        return (f"<link rel='stylesheet' id='wpaicg-chat-css' href='{folder}/css/"
                f"wp-ai-content-generator-public.css?ver={_STYLE_TIME}' media='all' />\n"
                f"<script src='{folder}/js/wp-ai-content-generator-public.js?ver="
                f"{site.ai_power_version}' id='wp-ai-content-generator-js'></script>\n"
                f"<script>var wpaicgParams = {params};</script>")

    @classmethod
    def page_body(cls, site: Any, base: str) -> str:
        bot = site.ai_power_bot_id
        nonce = site.power_nonce
        return f"""<div data-post-id = "&lt;58" data-url="{base}/" class="wpaicg-chat-shortcode"
     data-nonce='{nonce}' data-bot-id="{bot}" data-type="shortcode" data-openai_stream_nav="1"
     style="width:100%"></div>
<div class="wpaicg-chat-shortcode-messages"></div>
<div class="wpaicg-chatbox wpaicg-chatbox-widget" data-type="widget" data-nonce="{nonce}"
     data-post-id="" data-url="{base}/" data-bot-id="0" data-openai_stream_nav="1"></div>"""

    def _route_ajax(self, body: bytes, fault: Optional[Fault]) -> None:
        site = self.site
        name = fault.name if fault else ""
        form = self.record.form if self.command == "POST" else {}
        version = version_tuple(site.ai_power_version)
        if self.reads_request(site):  # $_REQUEST: the query, then the body
            form = {**{k: v[-1] for k, v in self.record.query.items()}, **form}
        if name == "unsupported" or is_aipkit_version(site.ai_power_version):
            return self._send(400, "0", "text/html; charset=UTF-8")
        if form.get("_wpnonce") != site.power_nonce or name == "expired_nonce":
            if version <= (1, 8, 90):
                return self._send(200, {"status": "error", "msg": "Nonce verification failed"})
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
            if self.reads_request(site):  # the handler's result follows, raw, no newline
                events.append(json.dumps({"status": "success", "msg": "Something went wrong",
                                          "data": reply, "log": 123}).encode())
        if name == "malformed_sse":
            events = malformed(events)
        self._stream(events, fault)


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
