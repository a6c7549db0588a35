"""A local WordPress stand-in that speaks both chatbot protocols, for demos and tests.

Standard library only. One site serves a page with an AI Engine container and AI Power
containers, ``start_session``, ``chats/submit`` and ``admin-ajax.php``, with real nonces,
word-by-word replies, chunked or close-delimited framing, fault injection and a request log::

    >>> from chatgpt_providers import ChatGptt
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite(delay=0) as site:
    ...     ChatGptt(base_url=site.url).complete("Hi")
    'Echo: Hi'

A plugin release (``LocalSite(plugins=("ai-engine@1.9", "aipkit@2.3"))``) serves that
release's protocol era (``docs/protocols/versions.md``): its page, its routes and its refusals.
Pages other than ``site.pages`` (``/`` and ``/chat/``) are WordPress's 404 page.

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

from .base import FAULTS, RecordedRequest, make_reply
from .site import LocalSite

__all__ = ["LocalSite", "RecordedRequest", "FAULTS", "make_reply"]
