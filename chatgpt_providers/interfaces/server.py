"""An OpenAI-compatible HTTP endpoint over the providers: ``chatgpt-providers api``.

Any program that speaks OpenAI's HTTP API (the official ``openai`` package, LangChain's
``ChatOpenAI``, chat web UIs, any language) can use these sites through it::

    chatgpt-providers api --port 1337          # pip install 'chatgpt-providers[server]'

    >>> from openai import OpenAI                                    # doctest: +SKIP
    >>> client = OpenAI(base_url="http://127.0.0.1:1337/v1", api_key="unused")  # doctest: +SKIP
    >>> client.chat.completions.create(                              # doctest: +SKIP
    ...     model="auto", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content
    'Hello! How can I help you today?'

The endpoint is a plain WSGI application (:func:`create_app`, or the module's ``app`` for
``waitress-serve chatgpt_providers.interfaces.server:app`` and other WSGI servers),
synchronous like the rest of the SDK. :class:`APIServer` serves it with waitress, a pure-Python
production WSGI server that writes every chunk to the socket as the application yields it
(waitress 1.3 and later: ``send_bytes`` is 1 and deprecated, and ``TCP_NODELAY`` is set).

Routes: ``GET /v1/models`` (also ``/v1/models/{id}``) and ``POST /v1/chat/completions``
(also without the ``/v1`` prefix). Models: the presets (``chatgpt4online``, ``chatgptt``),
``auto`` (failover across them) and the sites given with ``sites=``. Each model is one
client made on first use and shared by every request thread (one nonce per site, kept-alive
connections). Errors use OpenAI's error JSON and statuses (400 bad body, 401 key, 404
model, 413 body too large, 429 rate limit with ``Retry-After`` when the site named a wait,
502 the site failed, 504 it timed out); an error after a stream started ends the stream
with a ``data: {"error": {...}}`` event and no ``[DONE]``.

Nothing here imports waitress, opens a socket or starts a thread until asked to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
from http import HTTPStatus
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from .. import errors
from ..core.provider import ChatAPI, ChatProvider
from ..core.results import Reply
from .compat import resolve_provider
from .openai_translation import (
    CompletionRequest,
    RequestError,
    completion,
    completion_chunks,
    cut_at_stop,
    translate_request,
)
from .openai_types import ChatCompletionChunk

__all__ = ["create_app", "ChatCompletionsApp", "Models", "APIServer", "serve_api", "APIError",
           "error_for", "parse_site", "DEFAULT_PORT", "DEFAULT_THREADS", "MAX_BODY_BYTES",
           "PRESET_MODELS", "AUTO", "INSTALL_HINT", "API_KEY_VARIABLE", "is_loopback"]

log = logging.getLogger(__name__)

#: The port ``chatgpt-providers api`` listens on unless told otherwise (gpt4free's).
DEFAULT_PORT = 1337
#: Request threads of :class:`APIServer`: each streaming request holds one until it ends.
DEFAULT_THREADS = 16
#: The largest request body accepted (bytes); a larger one is answered 413.
MAX_BODY_BYTES = 1024 * 1024
#: The preset models, in the order ``GET /v1/models`` lists them.
PRESET_MODELS = ("chatgpt4online", "chatgptt")
#: The model that fails over across the presets.
AUTO = "auto"
#: What to run when the WSGI server is missing.
INSTALL_HINT = "pip install 'chatgpt-providers[server]'"
#: Environment variable the module-level ``app`` reads its API key from.
API_KEY_VARIABLE = "CHATGPT_PROVIDERS_API_KEY"

_OWNER = "chatgpt-providers"
_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_DONE = b"data: [DONE]\n\n"
_MARK = "\u0000text\u0000"  # stands for a chunk's text in the per-stream template


# -- errors -------------------------------------------------------------------------------


class APIError(Exception):
    """An answer in OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

    >>> err = APIError(404, "no such model", code="model_not_found")
    >>> err.status, err.body()["error"]["code"]
    (404, 'model_not_found')
    """

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",  # noqa: A002
                 param: Optional[str] = None, code: Optional[str] = None,
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = list(headers)

    def body(self) -> Dict[str, Any]:
        """The JSON body (see the class example)."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def _snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def error_for(exc: errors.ProviderError) -> APIError:
    """The HTTP answer for a provider error: 429 rate limit, 504 timeout, 400 a message the
    site refused, 502 anything else the site did wrong. ``code`` names the SDK's error.

    >>> err = error_for(errors.RateLimitError("slow down", retry_after=2.5, provider="ChatGptt"))
    >>> err.status, err.headers, err.code
    (429, [('Retry-After', '3')], 'rate_limit_error')
    >>> error_for(errors.TimeoutError("no answer in 60 s")).status
    504
    """
    message = f"{exc.provider}: {exc}" if exc.provider else str(exc)
    code = _snake(type(exc).__name__)
    if isinstance(exc, errors.AllProvidersFailedError) and exc.errors:
        kinds = list(exc.errors.values())
        if all(isinstance(e, errors.RateLimitError) for e in kinds):
            waits = [e.retry_after for e in kinds if isinstance(e, errors.RateLimitError)]
            known = [w for w in waits if w is not None]
            return _rate_limited(message, code, min(known) if len(known) == len(waits) else None)
        if all(isinstance(e, errors.TimeoutError) for e in kinds):
            return APIError(504, message, type="timeout_error", code=code, headers=_NO_RETRY)
    if isinstance(exc, errors.RateLimitError):
        return _rate_limited(message, code, exc.retry_after)
    if isinstance(exc, errors.TimeoutError):
        return APIError(504, message, type="timeout_error", code=code, headers=_NO_RETRY)
    if isinstance(exc, errors.RejectedError):
        return APIError(400, message, param="messages", code=code)
    return APIError(502, message, type="server_error", code=code, headers=_NO_RETRY)


#: The providers already retried what was worth retrying (their ``retries=``), so the official
#: client is asked not to multiply the attempts on a 502/504 (it honours ``x-should-retry``).
_NO_RETRY = (("x-should-retry", "false"),)


def _rate_limited(message: str, code: str, retry_after: Optional[float]) -> APIError:
    headers: List[Tuple[str, str]] = []
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
    return APIError(429, message, type="rate_limit_error", code=code, headers=headers)


# -- models -------------------------------------------------------------------------------


def parse_site(spec: str) -> Tuple[str, str]:
    """``--site`` values: ``NAME=URL``, or a bare ``URL`` named after its host.

    >>> parse_site("https://blog.example/chat/")
    ('blog.example', 'https://blog.example/chat/')
    >>> parse_site("mine=http://127.0.0.1:8080/?page_id=2")
    ('mine', 'http://127.0.0.1:8080/?page_id=2')
    """
    name, url = "", spec.strip()
    head, sep, tail = url.partition("=")
    if sep and "/" not in head and ":" not in head:
        name, url = head.strip(), tail.strip()
        if not name:
            raise ValueError(f"--site {spec!r}: the name before '=' is empty")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--site needs an http(s) page address like https://site.example/chat/ "
                         f"(or NAME=URL); got {spec!r}")
    return (name or parts.hostname.lower()), url


def _key(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


class Models:
    """The models an endpoint serves, each one client made on first use (under a lock) and
    then shared by every request thread: one nonce per site, kept-alive connections.

    >>> models = Models(sites=["https://blog.example/chat/"])
    >>> models.ids()
    ['chatgpt4online', 'chatgptt', 'auto', 'blog.example']
    >>> models.lookup("ChatGptt"), models.lookup("gpt-4o")
    ('chatgptt', None)

    ``providers`` picks which of the presets and ``auto`` are served (default: all);
    ``sites`` adds pages (``URL`` or ``NAME=URL``) whose plugin is detected on first use
    (:func:`~chatgpt_providers.connect`). ``base_url`` points the presets at another
    address (the stand-in in tests); ``options`` go to every client (``timeout=``,
    ``retries=``, ``proxy=``, ...). ``pool_size`` widens each client's connection pool to
    the number of request threads.
    """

    def __init__(self, providers: Optional[Iterable[str]] = None, *, sites: Iterable[str] = (),
                 base_url: Optional[str] = None, pool_size: Optional[int] = None,
                 **options: Any) -> None:
        names = list(providers) if providers is not None else [*PRESET_MODELS, AUTO]
        if isinstance(providers, str):
            names = [providers]
        known = {_key(name): name for name in (*PRESET_MODELS, AUTO)}
        self._order: List[str] = []
        for name in names:
            canonical = known.get(_key(str(name)))
            if canonical is None:
                raise ValueError(f"unknown provider {name!r}; choose from {', '.join(known.values())} "
                                 "(other sites: sites=/--site URL)")
            if canonical not in self._order:
                self._order.append(canonical)
        self._sites: Dict[str, str] = {}
        for spec in sites:
            name, url = parse_site(spec)
            if name in self._sites or _key(name) in known:
                raise ValueError(f"two models would be called {name!r}; name the site: "
                                 f"--site NAME={url}")
            self._sites[name] = url
            self._order.append(name)
        if not self._order:
            raise ValueError("no models to serve: give at least one provider or site")
        self.base_url = base_url
        self.pool_size = pool_size
        self.options = dict(options)
        self._check_options()
        self._made: Dict[str, ChatAPI] = {}
        self._locks: Dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        #: When the list was made: the ``created`` of every model.
        self.created = int(time.time())

    def _check_options(self) -> None:
        """Bad options (a negative timeout, an unknown keyword) fail now, not at the first
        request: a throwaway client is made and closed (no traffic)."""
        extra = {"base_url": self.base_url} if self.base_url else {}
        _close(resolve_provider(PRESET_MODELS[0], **extra, **self.options))

    def ids(self) -> List[str]:
        """The model ids, in order (see the class example)."""
        return list(self._order)

    def lookup(self, name: object) -> Optional[str]:
        """The id of the model called ``name`` (presets in any case, ``-``/``_`` ignored),
        or None (see the class example)."""
        if not isinstance(name, str):
            return None
        if name in self._sites:
            return name
        wanted = _key(name)
        for model in self._order:
            if _key(model) == wanted:
                return model
        return None

    def client(self, model: str) -> ChatAPI:
        """The shared client of ``model`` (an id from :meth:`ids`), made on first use. A site
        that cannot be reached or recognised raises its ProviderError and is tried again on
        the next request.

        >>> Models().client("auto").name
        'RetryProvider'
        """
        if model not in self._order:
            raise ValueError(f"model {model!r} is not served here; use one of {self.ids()}")
        return self._shared(model)

    def _shared(self, name: str) -> ChatAPI:
        made = self._made.get(name)  # one dict read: no lock once made
        if made is not None:
            return made
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one lock per model: a slow site detection does not hold up the others
            made = self._made.get(name)
            if made is None:
                made = self._make(name)
                self._made[name] = made
            return made

    def _make(self, name: str) -> ChatAPI:
        if name == AUTO:  # the presets' own shared clients, whether or not they are served
            from .failover import RetryProvider

            return RetryProvider([self._shared(preset) for preset in PRESET_MODELS])  # type: ignore[misc]
        if name in PRESET_MODELS:
            extra = {"base_url": self.base_url} if self.base_url else {}
            return self._widen(resolve_provider(name, **extra, **self.options))  # type: ignore[arg-type]
        from .detection import connect

        log.info("detecting the chatbot of model %s at %s", name, self._sites[name])
        return self._widen(connect(self._sites[name], **self.options))

    def _widen(self, client: ChatProvider) -> ChatProvider:
        """Room in the connection pool for every request thread (requests keeps 10)."""
        size = self.pool_size
        if size and size > 10 and "session" not in self.options:
            from requests.adapters import HTTPAdapter

            for prefix in ("https://", "http://"):
                client.transport.session.mount(prefix, HTTPAdapter(pool_maxsize=size))
        return client

    def close(self) -> None:
        """Close every client made so far.

        >>> Models().close()
        """
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for client in made:
            if not hasattr(client, "providers"):  # a RetryProvider's members are closed here
                _close(client)


# -- the WSGI application -----------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _ChunkEncoder:
    """A stream's chunks as SSE ``data:`` events in OpenAI's wire form: ``usage`` present
    (null until the last chunk) only when asked for, ``delta`` without null fields. A plain
    text delta is the stream's template with the text put in: no object tree per delta."""

    __slots__ = ("include_usage", "_template")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self._template: Optional[Tuple[str, bytes, bytes]] = None  # (provider, head, tail)

    def encode(self, chunk: ChatCompletionChunk) -> bytes:
        choice = chunk.choices[0] if chunk.choices else None
        if (choice is not None and choice.finish_reason is None and choice.delta.role is None
                and chunk.usage is None and choice.delta.content is not None):
            template = self._template
            if template is None or template[0] != chunk.provider:
                choice.delta.content, text = _MARK, choice.delta.content
                head, _, tail = self._dump(chunk).partition(_dumps(_MARK))
                choice.delta.content = text
                template = self._template = (chunk.provider, head, tail)
            return template[1] + _dumps(choice.delta.content) + template[2]
        return self._dump(chunk)

    def _dump(self, chunk: ChatCompletionChunk) -> bytes:
        value = chunk.model_dump()
        for item in value["choices"]:
            item["delta"] = {k: v for k, v in item["delta"].items() if v is not None}
        if not self.include_usage:
            value.pop("usage")
        return b"data: " + _dumps(value) + b"\n\n"


class _Exchange:
    """One request: what the log line needs, and the headers every answer carries."""

    __slots__ = ("method", "path", "client", "started", "status", "model", "stream", "outcome",
                 "headers", "logged")

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

    def log(self) -> None:
        """One line per request (no message content), once."""
        if self.logged:
            return
        self.logged = True
        elapsed = (time.perf_counter() - self.started) * 1000
        log.info("%s %s %s %d model=%s%s %.0f ms%s", self.client, self.method, self.path,
                 self.status, self.model, " stream" if self.stream else "", elapsed,
                 f" ({self.outcome})" if self.outcome else "")


StartResponse = Callable[..., Any]


class ChatCompletionsApp:
    """The WSGI application: OpenAI's ``/v1/models`` and ``/v1/chat/completions`` over
    :class:`Models`. Make it with :func:`create_app`.

    >>> app = create_app()
    >>> app.models.ids()
    ['chatgpt4online', 'chatgptt', 'auto']

    ``api_key``: when set, every request needs ``Authorization: Bearer <key>`` (compared in
    constant time). ``cors``: origins allowed to call from a browser (``"*"`` for any);
    none by default, so no CORS headers are sent. ``max_body_bytes``: larger bodies get 413.
    """

    def __init__(self, models: Models, *, api_key: Optional[str] = None, cors: Iterable[str] = (),
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key is empty; pass a real key, or None for no key")
        if isinstance(cors, str):
            cors = [cors]
        self.models = models
        self.cors = [origin.rstrip("/") for origin in cors]
        self.max_body_bytes = max_body_bytes
        self._key_digest = hashlib.sha256(api_key.encode()).digest() if api_key else None

    @property
    def requires_key(self) -> bool:
        """Whether requests need the API key."""
        return self._key_digest is not None

    def close(self) -> None:
        """Close the clients' connections.

        >>> create_app().close()
        """
        self.models.close()

    # -- dispatch -------------------------------------------------------------------------

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        exchange = _Exchange(environ)
        exchange.headers = self._cors_headers(environ)
        try:
            if exchange.method == "OPTIONS" and exchange.headers:
                return self._preflight(environ, exchange, start_response)
            self._authorize(environ)
            route, model = _route(exchange.path)
            if route == "models":
                self._allow(exchange, "GET")
                listing = {"object": "list", "data": [self._model(m) for m in self.models.ids()]}
                return self._json(exchange, start_response, 200, listing)
            if route == "model":
                self._allow(exchange, "GET")
                found = self.models.lookup(model)
                if found is None:
                    raise self._unknown_model(model)
                return self._json(exchange, start_response, 200, self._model(found))
            if route == "chat":
                self._allow(exchange, "POST")
                return self._chat(environ, exchange, start_response)
            raise APIError(404, f"Invalid URL ({exchange.method} {exchange.path}); this endpoint "
                                "serves GET /v1/models and POST /v1/chat/completions",
                           code="unknown_url")
        except APIError as exc:
            exchange.outcome = exc.code or exc.type
            return self._error(exchange, start_response, exc)
        except errors.ProviderError as exc:  # a --site that could not be reached or recognised
            exchange.outcome = type(exc).__name__
            return self._error(exchange, start_response, error_for(exc))
        except Exception:
            log.exception("internal error answering %s %s", exchange.method, exchange.path)
            exchange.outcome = "internal error"
            return self._error(exchange, start_response, APIError(
                500, "internal error in chatgpt-providers; see the server's log",
                type="server_error", code="internal_error"))

    def _authorize(self, environ: Mapping[str, Any]) -> None:
        if self._key_digest is None:
            return
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        scheme, _, given = header.partition(" ")
        challenge = [("WWW-Authenticate", 'Bearer realm="chatgpt-providers"')]
        if scheme.lower() != "bearer" or not given.strip():
            raise APIError(401, "Missing API key: send it as 'Authorization: Bearer KEY' (the "
                                "openai client does this with api_key=...)", code="invalid_api_key",
                           headers=challenge)
        # PEP 3333 headers are latin-1 strings: encoding them back gives the bytes sent.
        digest = hashlib.sha256(given.strip().encode("latin-1", "replace")).digest()
        if not hmac.compare_digest(digest, self._key_digest):
            raise APIError(401, "Incorrect API key provided; use the key this endpoint was "
                                "started with (--api-key)", code="invalid_api_key", headers=challenge)

    @staticmethod
    def _allow(exchange: _Exchange, method: str) -> None:
        if exchange.method != method:
            raise APIError(405, f"{exchange.method} is not allowed on {exchange.path}; use {method}",
                           code="method_not_allowed", headers=[("Allow", method)])

    def _model(self, model: str) -> Dict[str, Any]:
        return {"id": model, "object": "model", "created": self.models.created, "owned_by": _OWNER}

    def _unknown_model(self, name: object) -> APIError:
        return APIError(404, f"The model {name!r} does not exist here; use one of: "
                             f"{', '.join(self.models.ids())} (GET /v1/models lists them)",
                        param="model", code="model_not_found")

    # -- CORS -----------------------------------------------------------------------------

    def _cors_headers(self, environ: Mapping[str, Any]) -> List[Tuple[str, str]]:
        if not self.cors:
            return []
        origin = str(environ.get("HTTP_ORIGIN") or "").rstrip("/")
        if "*" in self.cors:
            return [("Access-Control-Allow-Origin", "*")]
        if origin and origin in self.cors:
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        return []

    def _preflight(self, environ: Mapping[str, Any], exchange: _Exchange,
                   start_response: StartResponse) -> Iterable[bytes]:
        asked = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "")
        headers = exchange.headers + [
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", asked or "Authorization, Content-Type"),
            ("Access-Control-Max-Age", "600"), ("Content-Length", "0")]
        exchange.status = 204
        start_response("204 No Content", headers)
        exchange.log()
        return [b""]

    # -- answers --------------------------------------------------------------------------

    def _json(self, exchange: _Exchange, start_response: StartResponse, status: int, value: Any,
              headers: Sequence[Tuple[str, str]] = ()) -> Iterable[bytes]:
        body = _dumps(value)
        exchange.status = status
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", _JSON), ("Content-Length", str(len(body))),
                        *headers, *exchange.headers])
        exchange.log()
        return [body]

    def _error(self, exchange: _Exchange, start_response: StartResponse,
               exc: APIError) -> Iterable[bytes]:
        return self._json(exchange, start_response, exc.status, exc.body(), exc.headers)

    def _read_json(self, environ: Mapping[str, Any]) -> Dict[str, Any]:
        stream = environ["wsgi.input"]
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        too_large = APIError(413, f"the request body is larger than {self.max_body_bytes} bytes",
                             code="request_too_large")
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise APIError(400, "Content-Length is not a number", code="invalid_request") from None
            if length > self.max_body_bytes:
                raise too_large
            data = stream.read(length) if length > 0 else b""
        elif environ.get("wsgi.input_terminated"):
            data = stream.read(self.max_body_bytes + 1)
            if len(data) > self.max_body_bytes:
                raise too_large
        else:
            data = b""
        if not data.strip():
            raise APIError(400, "the request body is empty; send OpenAI's chat completion JSON, e.g. "
                                '{"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}',
                           code="invalid_json")
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise APIError(400, f"the request body is not valid JSON ({exc})",
                           code="invalid_json") from None
        if not isinstance(body, dict):
            raise APIError(400, "the request body must be a JSON object", code="invalid_json")
        return body

    def _chat(self, environ: Mapping[str, Any], exchange: _Exchange,
              start_response: StartResponse) -> Iterable[bytes]:
        body = self._read_json(environ)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise APIError(400, "model is required: one of "
                                f"{', '.join(self.models.ids())} (GET /v1/models lists them)",
                           param="model", code="missing_required_parameter")
        exchange.model = name[:80]
        try:
            request = translate_request(body)
        except RequestError as exc:
            raise APIError(400, exc.message, param=exc.param, code=exc.code) from None
        model = self.models.lookup(name)
        if model is None:
            raise self._unknown_model(name)
        exchange.model = model
        if request.unknown or request.ignored:
            log.debug("request for %s: %d messages, options ignored: %s", model,
                      len(request.messages), request.ignored + request.unknown)
        client = self.models.client(model)
        if request.stream:
            exchange.stream = True
            return self._stream(client, model, request, exchange, start_response)
        reply = Reply()
        try:
            if request.stop:
                texts = cut_at_stop(client.stream(request.messages, reply=reply), request.stop)
                text: Optional[str] = "".join(texts)
            else:
                reply, text = client.reply(request.messages), None
        except errors.ProviderError as exc:
            raise error_for(exc) from None
        except ValueError as exc:  # the plugin refuses this message (Protocol.check)
            raise APIError(400, str(exc), param="messages", code="invalid_value") from None
        return self._json(exchange, start_response, 200,
                          completion(client, model, reply, text).model_dump())

    def _stream(self, client: ChatAPI, model: str, request: CompletionRequest,
                exchange: _Exchange, start_response: StartResponse) -> Iterable[bytes]:
        reply = Reply()
        chunks = completion_chunks(client, model, _lazy_texts(client, request, reply), reply,
                                   include_usage=request.include_usage)
        try:
            # The status waits for the first text, so a failure before any text is a real
            # HTTP error (429, 502, 504) that clients raise and retry as they do with OpenAI.
            first = next(chunks)
        except errors.ProviderError as exc:
            _close(chunks)
            raise error_for(exc) from None
        except ValueError as exc:  # the plugin refuses this message (Protocol.check)
            _close(chunks)
            raise APIError(400, str(exc), param="messages", code="invalid_value") from None
        except BaseException:
            _close(chunks)
            raise
        exchange.status = 200
        start_response("200 OK", [("Content-Type", _SSE), ("Cache-Control", "no-cache"),
                                  ("X-Accel-Buffering", "no"), *exchange.headers])
        events = self._events(model, first, chunks, _ChunkEncoder(request.include_usage), exchange)
        return _Body(events, chunks, exchange)

    def _events(self, model: str, first: ChatCompletionChunk, chunks: Iterator[ChatCompletionChunk],
                encoder: _ChunkEncoder, exchange: _Exchange) -> Iterator[bytes]:
        try:
            yield encoder.encode(first)
            for chunk in chunks:
                yield encoder.encode(chunk)
            yield _DONE
        except errors.ProviderError as exc:
            exchange.outcome = f"{type(exc).__name__} after {len(exc.partial_text)} characters"
            yield b"data: " + _dumps(error_for(exc).body()) + b"\n\n"
        except Exception:
            log.exception("internal error while streaming %s", model)
            exchange.outcome = "internal error"
            yield b"data: " + _dumps(APIError(500, "internal error in chatgpt-providers; see the "
                                                   "server's log", type="server_error",
                                              code="internal_error").body()) + b"\n\n"
        except GeneratorExit:
            exchange.outcome = "client went away"
            raise
        finally:
            _close(chunks)
            exchange.log()


def _lazy_texts(client: ChatAPI, request: CompletionRequest, reply: Reply) -> Iterator[str]:
    """The reply's texts cut at ``stop``; the call starts (and ``check`` raises) at the first
    ``next``, so every failure before the first text is answered the same way."""
    yield from cut_at_stop(client.stream(request.messages, reply=reply), request.stop)


def _close(thing: Any) -> None:
    """Close a client or a generator (ChatAPI and Iterator do not promise ``close``)."""
    close = getattr(thing, "close", None)
    if close is not None:
        close()


class _Body:
    """A streamed answer. Every WSGI server calls ``close()`` when the response ends or the
    client went away: it ends the site's stream and logs the request, even when the events
    were never iterated."""

    __slots__ = ("_events", "_texts", "_exchange")

    def __init__(self, events: Iterator[bytes], texts: Iterator[Any], exchange: _Exchange) -> None:
        self._events = events
        self._texts = texts
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        self._events.close()  # type: ignore[attr-defined]
        _close(self._texts)
        self._exchange.log()


def _route(path: str) -> Tuple[str, Optional[str]]:
    """``("chat" | "models" | "model" | "", model id)`` for a request path.

    >>> _route("/v1/chat/completions"), _route("/models/auto"), _route("/v1/embeddings")
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


def create_app(providers: Optional[Iterable[str]] = None, *, sites: Iterable[str] = (),
               base_url: Optional[str] = None, api_key: Optional[str] = None,
               cors: Iterable[str] = (), max_body_bytes: int = MAX_BODY_BYTES,
               pool_size: Optional[int] = DEFAULT_THREADS, **options: Any) -> ChatCompletionsApp:
    """The WSGI application, for :class:`APIServer` or any WSGI server
    (``gunicorn 'chatgpt_providers.interfaces.server:create_app(api_key="...")'``).

    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site:                   # the presets pointed at the stand-in
    ...     app = create_app(base_url=site.url, retries=0)
    ...     app.models.client("chatgptt").complete("Hi")
    'Echo: Hi'

    ``providers``, ``sites``, ``base_url``, ``pool_size`` and ``options`` (``timeout=``,
    ``retries=``, ``proxy=``, ...) are :class:`Models`'; ``api_key``, ``cors`` and
    ``max_body_bytes`` are :class:`ChatCompletionsApp`'s.
    """
    models = Models(providers, sites=sites, base_url=base_url, pool_size=pool_size, **options)
    return ChatCompletionsApp(models, api_key=api_key, cors=cors, max_body_bytes=max_body_bytes)


def __getattr__(name: str) -> Any:
    """``app``: an application with the default models, made on first access (its key from
    ``$CHATGPT_PROVIDERS_API_KEY``), for ``waitress-serve ...server:app`` and the like."""
    if name == "app":
        value = create_app(api_key=os.environ.get(API_KEY_VARIABLE) or None)
        globals()["app"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the production server ----------------------------------------------------------------


def _waitress() -> Any:
    """The waitress module, or ModuleNotFoundError saying how to install it."""
    try:
        import waitress.server  # type: ignore
        import waitress.wasyncore  # type: ignore # noqa: F401 - the loop APIServer runs
    except ImportError as exc:
        raise ModuleNotFoundError(f"the API server needs waitress: {INSTALL_HINT}",
                                  name="waitress") from exc
    return waitress


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class APIServer:
    """waitress serving a WSGI app (by default :func:`create_app`'s) on ``host:port``.

    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site, APIServer(create_app(base_url=site.url), port=0) as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True

    ``start()`` serves from a background thread; ``serve_forever()`` in the calling thread
    until Ctrl-C (or SIGTERM, or :meth:`close`). Stopping closes every connection (open
    streams end), waits up to ``shutdown_timeout`` seconds for the request threads and
    closes the app's clients. ``threads``: how many requests are answered at once (a
    streaming request holds one until it ends). Needs waitress (``INSTALL_HINT``).
    """

    def __init__(self, app: Optional[Callable[..., Any]] = None, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, *, threads: int = DEFAULT_THREADS,
                 shutdown_timeout: float = 2.0) -> None:
        waitress = _waitress()
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a whole number >= 1; got {threads!r}")
        self.app = app if app is not None else create_app(pool_size=threads)
        self.shutdown_timeout = shutdown_timeout
        self._map: Dict[int, Any] = {}
        limit = getattr(self.app, "max_body_bytes", MAX_BODY_BYTES)
        self._server = waitress.server.create_server(
            self.app, map=self._map, host=host, port=port, threads=threads,
            ident=_OWNER, asyncore_use_poll=True, clear_untrusted_proxy_headers=True,
            # Bodies up to 4x the app's cap are read and answered 413 in OpenAI's shape by the
            # app; waitress refuses anything larger itself, before buffering it.
            max_request_body_size=4 * limit)
        self._loop = waitress.wasyncore
        self._thread: Optional[threading.Thread] = None
        self._stopped = threading.Event()
        self._running = threading.Event()
        self._closed = False

    @property
    def addresses(self) -> List[Tuple[str, int]]:
        """``(host, port)`` of every socket listened on."""
        listen = getattr(self._server, "effective_listen", None)
        if listen:
            return [(str(h), int(p)) for h, p in listen]
        return [(str(self._server.effective_host), int(self._server.effective_port))]

    @property
    def url(self) -> str:
        """``http://host:port`` of the first socket (add ``/v1`` for OpenAI clients)."""
        host, port = self.addresses[0]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until Ctrl-C, SIGTERM or :meth:`close` (see the class docstring)."""
        previous = _on_sigterm()
        try:
            self._run()
        except (KeyboardInterrupt, SystemExit):
            log.info("stopping")
        finally:
            _restore_sigterm(previous)
            self._shutdown()

    def start(self) -> APIServer:
        """Serve from a background thread; returns the server (see the class example)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve_in_thread, daemon=True,
                                            name="chatgpt-providers-api")
            self._running.set()  # close() from now on goes through the loop
            self._thread.start()
        return self

    def _serve_in_thread(self) -> None:
        try:
            self._run()
        finally:
            self._shutdown()

    def _run(self) -> None:
        self._running.set()
        try:
            self._loop.loop(timeout=1.0, map=self._map, use_poll=True)
        finally:
            self._running.clear()

    def close(self) -> None:
        """Stop serving and wait until stopped, from any thread (see the class docstring)."""
        if self._running.is_set():
            # The sockets belong to the loop's thread: it closes them, and then the loop ends.
            trigger = next((d for d in list(self._map.values()) if hasattr(d, "pull_trigger")), None)
            if trigger is not None:
                trigger.pull_trigger(lambda: self._loop.close_all(self._map, ignore_all=True))
            self._stopped.wait(self.shutdown_timeout + 5)
        else:
            self._shutdown()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.close_all(self._map, ignore_all=True)
        self._server.task_dispatcher.shutdown(timeout=self.shutdown_timeout)
        close = getattr(self.app, "close", None)
        if close is not None:
            close()
        self._stopped.set()

    def __enter__(self) -> APIServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _on_sigterm() -> Any:
    """Make SIGTERM stop the server as Ctrl-C does (main thread only); returns the old handler."""
    import signal

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return None

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    return signal.signal(signal.SIGTERM, stop)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        import signal

        signal.signal(signal.SIGTERM, previous)


def serve_api(app: Optional[Callable[..., Any]] = None, *, host: str = "127.0.0.1",
              port: int = DEFAULT_PORT, threads: int = DEFAULT_THREADS,
              ready: Optional[Callable[[APIServer], None]] = None) -> None:
    """Serve ``app`` (default: :func:`create_app`'s) with waitress until Ctrl-C or SIGTERM;
    what ``chatgpt-providers api`` runs. ``ready(server)`` is called once the socket is
    bound (``server.url`` then says where, also with ``port=0``).

    >>> serve_api(port=1337, ready=lambda server: print(server.url))   # doctest: +SKIP
    http://127.0.0.1:1337
    """
    server = APIServer(app, host, port, threads=threads)
    if ready is not None:
        ready(server)
    server.serve_forever()
