"""What a request asks for, checked before anything reaches a site: its route, its JSON body
(size-capped, nesting-capped) and the chat completion it describes, translated by
:mod:`~chatgpt_providers.interfaces.openai_translation` (the ``Client``'s rules too).

Constraint: every mistake of the caller is a 4xx in OpenAI's error JSON (never a 500, which
SDKs retry); nothing is sent to a site before the whole request was checked.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..openai_translation import CompletionRequest, RequestError, translate_request
from .api_errors import APIError, bad_request

__all__ = ["Exchange", "route", "read_json", "chat_request"]

log = logging.getLogger("chatgpt_providers")


class Exchange:
    """One request: what the log line needs, and the headers every answer carries."""

    __slots__ = ("method", "path", "client", "started", "status", "model", "stream", "outcome",
                 "headers", "logged", "client_left")

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self.method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        self.path = str(environ.get("PATH_INFO") or "/")
        self.client = str(environ.get("REMOTE_ADDR") or "-")
        self.started = time.perf_counter()
        self.status = 0
        self.model = "-"
        self.stream = False
        self.outcome = ""
        self.headers: List[Tuple[str, str]] = []
        self.logged = False
        #: Whether the caller hung up: waitress's ``waitress.client_disconnected`` (it needs
        #: ``channel_request_lookahead`` > 0, which APIServer sets); other servers: never known.
        self.client_left: Callable[[], bool] = environ.get("waitress.client_disconnected") or _never

    def log(self) -> None:
        """One line per request (no message content), once."""
        if self.logged:
            return
        self.logged = True
        elapsed = (time.perf_counter() - self.started) * 1000
        log.info("%s %s %s %d model=%s%s %.0f ms%s", self.client, self.method, self.path,
                 self.status, self.model, " stream" if self.stream else "", elapsed,
                 f" ({self.outcome})" if self.outcome else "")


def _never() -> bool:
    return False


#: PEP 3333's ``start_response``.
StartResponse = Callable[..., Any]


def route(path: str) -> Tuple[str, Optional[str]]:
    """``("chat" | "models" | "model" | "", model id)`` for a request path.

    >>> route("/v1/chat/completions"), route("/models/auto"), route("/v1/embeddings")
    (('chat', None), ('model', 'auto'), ('', None))
    """
    path = path.rstrip("/") or "/"
    if path.startswith("/v1/"):
        path = path[3:]
    if path == "/chat/completions":
        return "chat", None
    if path == "/models":
        return "models", None
    if path.startswith("/models/") and len(path) > len("/models/"):
        return "model", path[len("/models/"):]
    return "", None


def read_json(environ: Mapping[str, Any], max_body_bytes: int) -> Dict[str, Any]:
    """The request body as a JSON object: 413 when larger than ``max_body_bytes``, 400 when
    empty, not JSON (or not UTF-8), nested too deeply to parse, or not an object.

    >>> import io
    >>> read_json({"wsgi.input": io.BytesIO(b'{"a": 1}'), "CONTENT_LENGTH": "8"}, 100)
    {'a': 1}
    >>> read_json({"wsgi.input": io.BytesIO(b"[" * 50000), "CONTENT_LENGTH": "50000"}, 10**6)
    Traceback (most recent call last):
    ...
    chatgpt_providers.interfaces.server.api_errors.APIError: the request body is nested too deeply ...
    """
    stream = environ["wsgi.input"]
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    too_large = APIError(413, f"the request body is larger than {max_body_bytes} bytes",
                         code="request_too_large")
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            raise bad_request("Content-Length is not a number", code="invalid_request") from None
        if length > max_body_bytes:
            raise too_large
        data = stream.read(length) if length > 0 else b""
    elif environ.get("wsgi.input_terminated"):
        data = stream.read(max_body_bytes + 1)
        if len(data) > max_body_bytes:
            raise too_large
    else:
        data = b""
    if not data.strip():
        raise bad_request("the request body is empty; send OpenAI's chat completion JSON, e.g. "
                          '{"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}',
                          code="invalid_json")
    try:
        body = json.loads(data)
    except RecursionError:  # the parser recurses once per level: "[[[[..." exhausts the stack
        raise bad_request("the request body is nested too deeply to be a chat completion request",
                          code="invalid_json") from None
    except ValueError as exc:  # includes bytes that are not UTF-8/16/32
        raise bad_request(f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return body


def chat_request(body: Mapping[str, Any]) -> CompletionRequest:
    """The chat completion ``body`` asks for; 400 naming the parameter for anything the sites
    cannot honour (the shared translation's rules).

    >>> chat_request({"model": "auto", "messages": "Hi", "tool_choice": "required"})
    Traceback (most recent call last):
    ...
    chatgpt_providers.interfaces.server.api_errors.APIError: tool_choice='required': the sites' ...
    """
    try:
        return translate_request(body)
    except RequestError as exc:
        raise bad_request(exc.message, exc.param, exc.code) from None
