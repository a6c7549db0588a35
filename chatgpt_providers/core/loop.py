"""The one loop every protocol runs in: :func:`stream_reply`.

Around a :class:`~chatgpt_providers.core.protocol.Protocol` it does, once for all plugins:

- retries of transient failures, only before the first text and only while the message
  cannot have reached the site (a message is never sent again by accident; see
  :class:`~chatgpt_providers.core.retry.RetryPolicy`);
- the single nonce refresh, repeating only the step the site refused;
- preparing again once when a prepared message expired (AI Power 2.3+'s cache key);
- the call's ``total_timeout`` (each step runs with the deadline in ``call_deadline``);
- the reply and event size caps;
- ``partial_text`` on every error, and the provider's name;
- reading the answer: event stream or JSON by its type, a stream that stops short of its
  end marker, and ending the call at the marker without waiting for the server to close.
"""

from __future__ import annotations

import logging
import time
from typing import Generator, Iterator, Optional, Tuple

import requests

from .. import errors
from .protocol import NonceRefused, PreparedExpired, Protocol
from .retry import RetryPolicy
from .site import Site, Turn
from .sse import EventTooLarge, iter_json_events, json_or_none
from .timeouts import call_deadline
from .transport import Transport

__all__ = ["stream_reply", "answer_kind"]

log = logging.getLogger("chatgpt_providers")


class _Attempt:
    """What one attempt learned that decides whether it may be retried."""

    __slots__ = ("delivering",)

    def __init__(self) -> None:
        #: The request that delivers the message went out: the site may have it.
        self.delivering = False


def stream_reply(site: Site, protocol: Protocol, policy: RetryPolicy, turn: Turn) -> Iterator[str]:
    """Yield the reply's text, retrying transient failures that come before any text.

    On failure, what was yielded is attached to the error as ``partial_text``.

    >>> from chatgpt_providers import ChatGptt
    >>> from chatgpt_providers.core.messages import parse_messages
    >>> from chatgpt_providers.core.results import Reply
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as local:
    ...     bot = ChatGptt(base_url=local.url)
    ...     turn = Turn(parse_messages("Hi"), Reply())
    ...     "".join(stream_reply(bot.site, bot.protocol, bot.retry_policy, turn))
    'Echo: Hi'
    """
    reply = turn.reply
    deadline: Optional[Tuple[float, float]] = None
    retry_deadline = None
    if site.total_timeout is not None:
        deadline = (time.monotonic() + site.total_timeout, float(site.total_timeout))
        retry_deadline = policy.clock() + site.total_timeout
    reply.provider = site.name
    streamed = reply.streamed
    limit = site.max_reply_chars
    number = 0
    while True:
        attempt = _Attempt()
        inner = _one_message(site, protocol, turn, attempt)
        try:
            size = 0
            for text in inner if deadline is None else _under_deadline(inner, deadline):
                if not text:
                    continue
                size += len(text)
                if size > limit:
                    raise errors.ResponseError(
                        f"the reply passed max_reply_chars={limit}; the rest was not read "
                        "(raise max_reply_chars= for longer replies)",
                        url=site.base_url,
                    )
                streamed.append(text)
                yield text
            return
        except errors.ProviderError as exc:
            if exc.provider is None:
                exc.provider = site.name
            site.transport.redact(exc)  # no nonce or cookie the client holds in any error
            wait = None
            if not streamed:
                wait = policy.wait_before_retry(exc, number, retry_deadline,
                                                accepted=attempt.delivering)
            if wait is None:
                exc.partial_text = streamed.getvalue()
                raise
            log.info("%s: %s: %s; retry %d of %d in %.2f s", site.name, type(exc).__name__,
                     exc, number + 1, policy.retries, wait)
            reply.final_text = reply.usage = reply.citations = None
            reply.warnings = []
        finally:
            inner.close()
        policy.sleep(wait)
        number += 1


def _under_deadline(inner: Iterator[str], deadline: Tuple[float, float]) -> Iterator[str]:
    """Run each step of ``inner`` with ``deadline`` as the call's deadline."""
    while True:
        token = call_deadline.set(deadline)
        try:
            text = next(inner)
        except StopIteration:
            return
        finally:
            call_deadline.reset(token)
        yield text


def _one_message(site: Site, protocol: Protocol, turn: Turn,
                 attempt: _Attempt) -> Generator[str, None, None]:
    """Send the message once: prepare, send, read; refresh a refused nonce once and prepare
    again once when the prepared message expired, repeating only those steps. The protocol
    that speaks the tokens (``protocol.speaker``) runs each step; the one that prepared
    releases what it made."""
    reply = turn.reply
    turn.tokens = site.current_tokens(protocol.fetch_tokens)
    turn.prepared = None
    preparer: Optional[Protocol] = None
    refreshed = prepared_again = False
    try:
        while True:
            speaker = protocol.speaker(turn.tokens)
            try:
                if turn.prepared is None:
                    preparer = speaker
                    turn.prepared = speaker.prepare(site, turn)
                attempt.delivering = True
                response = speaker.send(site, turn)
                yield from _read_answer(site, speaker, turn, response)
                return
            except NonceRefused as refused:
                if refreshed or reply.streamed:
                    raise (refused.repeated or _refused_twice(site, refused)) from None
                refreshed = True
                log.info("%s: the site refused the nonce (%s); fetching a new one", site.name,
                         errors.mask_secrets(refused.detail, site.transport.held_secrets()))
                turn.tokens = site.refresh_tokens(protocol.fetch_tokens, turn.tokens)
            except PreparedExpired as expired:
                if prepared_again or reply.streamed:
                    raise expired.error from None
                prepared_again = True
                log.info("%s: %s; sending the message again", site.name,
                         site.transport.redact(expired.error))
                if preparer is not None:
                    preparer.release(turn.prepared, reply)
                turn.prepared = None
    finally:
        if turn.prepared is not None and preparer is not None:
            preparer.release(turn.prepared, reply)


def _refused_twice(site: Site, refused: NonceRefused) -> errors.AuthenticationError:
    response = refused.response
    return errors.AuthenticationError(
        f"{site.name}: the site refused a freshly fetched nonce too ({refused.detail}); "
        "it may require a login, or block this client; try again later",
        url=response.url if response is not None else site.base_url,
        status_code=response.status_code if response is not None else None,
        body=response.content if response is not None else None,
    )


def _read_answer(site: Site, protocol: Protocol, turn: Turn, response: requests.Response
                 ) -> Iterator[str]:
    reply = turn.reply
    try:
        kind, pieces = answer_kind(site.transport, response)
        if kind == "sse":
            assert pieces is not None
            events = iter_json_events(pieces, max_event_bytes=site.max_event_bytes)
            try:
                ended = yield from protocol.read_events(site, turn, events, response)
            except EventTooLarge as exc:
                raise errors.ResponseError(
                    f"{response.url} sent {exc}; the stream was abandoned (max_event_bytes= "
                    "raises the limit)",
                    url=response.url, status_code=response.status_code,
                ) from None
            if not ended:
                raise errors.StreamInterruptedError(
                    f"the connection to {response.url} was closed before the reply ended "
                    f"(no {protocol.end_marker}; {len(reply.streamed)} characters arrived); try again",
                    url=response.url, status_code=response.status_code,
                )
            site.transport.end_stream(response)
        elif kind == "json":
            data = json_or_none(site.transport.read_body(response))
            yield protocol.read_json(site, turn, data, response)
        else:
            protocol.raise_for_answer(site, turn, response)
    finally:
        response.close()


def answer_kind(transport: Transport, response: requests.Response
                ) -> Tuple[Optional[str], Optional[Iterator[bytes]]]:
    """``("sse", pieces)``, ``("json", None)`` or ``(None, None)`` for an answer.

    Branches on Content-Type as the plugins' own clients do; a 200 body with another type is
    read and recognised by its first bytes (a JSON object, or ``data:`` lines).
    """
    if response.status_code != 200:
        return None, None
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/event-stream":
        return "sse", transport.iter_bytes(response)
    if kind in ("application/json", "text/json"):
        return "json", None
    body = transport.read_body(response)
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:6]
    if head.startswith(b"{"):
        return "json", None
    if head.startswith((b"data:", b"event:", b":")):
        return "sse", iter([body])
    return None, None
