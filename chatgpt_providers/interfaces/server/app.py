"""The WSGI application: OpenAI's ``GET /v1/models`` (``/v1/models/{id}``) and
``POST /v1/chat/completions`` (also without ``/v1``) over :class:`~.models.Models`, with the API
key, CORS and the request log line.

Constraints: the key is compared in constant time; no CORS header unless an origin is
allowed; one log line per request without message content; every failure is answered in
OpenAI's error JSON (a 500 only for a bug here, logged with its traceback).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from http import HTTPStatus
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ... import errors
from ...core.provider import ChatAPI
from ...core.results import Reply
from ..openai_translation import CompletionRequest, completion, completion_chunks
from .api_errors import APIError, bad_request, error_for
from .disconnects import Watch, watch, watch_clients_of
from .models import DEFAULT_THREADS, Models, close_quietly
from .request import Exchange, StartResponse, chat_request, read_json, route
from .streaming import SSE_HEADERS, ChunkEncoder, StreamBody, dumps, request_texts

__all__ = ["ChatCompletionsApp", "create_app", "MAX_BODY_BYTES", "OWNER"]

log = logging.getLogger("chatgpt_providers")

#: The largest request body accepted (bytes); a larger one is answered 413.
MAX_BODY_BYTES = 1024 * 1024
#: ``owned_by`` of every model.
OWNER = "chatgpt-providers"


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
        exchange = Exchange(environ)
        exchange.headers = self._cors_headers(environ)
        try:
            if exchange.method == "OPTIONS" and exchange.headers:
                return self._preflight(environ, exchange, start_response)
            self._authorize(environ)
            kind, model = route(exchange.path)
            if kind == "models":
                self._allow(exchange, "GET")
                listing = {"object": "list", "data": [self._model(m) for m in self.models.ids()]}
                return self._json(exchange, start_response, 200, listing)
            if kind == "model":
                self._allow(exchange, "GET")
                found = self.models.lookup(model)
                if found is None:
                    raise self._unknown_model(model)
                return self._json(exchange, start_response, 200, self._model(found))
            if kind == "chat":
                self._allow(exchange, "POST")
                return self._chat(environ, exchange, start_response)
            raise APIError(404, f"Invalid URL ({exchange.method} {exchange.path}); this endpoint "
                                "serves GET /v1/models and POST /v1/chat/completions",
                           code="unknown_url")
        except APIError as exc:
            exchange.outcome = exc.code or exc.type
            return self._error(exchange, start_response, exc)
        except errors.ProviderError as exc:  # a --site that could not be reached or recognised
            answer = error_for(exc)
            exchange.outcome = answer.code or answer.type
            return self._error(exchange, start_response, answer)
        except Exception:
            log.exception("internal error answering %s %s", exchange.method, exchange.path)
            exchange.outcome = "internal_error"
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
    def _allow(exchange: Exchange, method: str) -> None:
        if exchange.method != method:
            raise APIError(405, f"{exchange.method} is not allowed on {exchange.path}; use {method}",
                           code="method_not_allowed", headers=[("Allow", method)])

    def _model(self, model: str) -> Dict[str, Any]:
        return {"id": model, "object": "model", "created": self.models.created, "owned_by": OWNER}

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

    def _preflight(self, environ: Mapping[str, Any], exchange: Exchange,
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

    def _json(self, exchange: Exchange, start_response: StartResponse, status: int, value: Any,
              headers: Sequence[Tuple[str, str]] = ()) -> Iterable[bytes]:
        body = dumps(value)
        exchange.status = status
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                        *headers, *exchange.headers])
        exchange.log()
        return [body]

    def _error(self, exchange: Exchange, start_response: StartResponse,
               exc: APIError) -> Iterable[bytes]:
        return self._json(exchange, start_response, exc.status, exc.body(), exc.headers)

    def _chat(self, environ: Mapping[str, Any], exchange: Exchange,
              start_response: StartResponse) -> Iterable[bytes]:
        body = read_json(environ, self.max_body_bytes)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise APIError(400, "model is required: one of "
                                f"{', '.join(self.models.ids())} (GET /v1/models lists them)",
                           param="model", code="missing_required_parameter")
        exchange.model = name[:80]
        request = chat_request(body)
        model = self.models.lookup(name)
        if model is None:
            raise self._unknown_model(name)
        exchange.model = model
        if request.unknown or request.ignored:
            log.debug("request for %s: %d messages, options ignored: %s", model,
                      len(request.messages), request.ignored + request.unknown)
        client = self.models.client(model)
        if exchange.client_left():  # it hung up while queued: nothing goes to the site
            return self._gone(exchange, start_response)
        watching = watch(environ.get("waitress.client_disconnected"))
        if watching is not None:
            watch_clients_of(client)
        try:
            if request.stream:
                exchange.stream = True
                answer = self._stream(client, model, request, exchange, start_response, watching)
                watching = None  # the stream's body ends the watch when it is closed
                return answer
            return self._complete(client, model, request, exchange, start_response)
        finally:
            if watching is not None:
                watching.end()

    def _complete(self, client: ChatAPI, model: str, request: CompletionRequest,
                  exchange: Exchange, start_response: StartResponse) -> Iterable[bytes]:
        reply = Reply(caller=caller_of(request))
        try:
            cut = "".join(request_texts(client, request, reply))
            text: Optional[str] = cut if request.stop else None  # else the site's final reply
        except errors.ProviderError as exc:
            raise error_for(exc) from None
        except ValueError as exc:  # the plugin refuses this message (Protocol.check)
            raise bad_request(str(exc), "messages") from None
        return self._json(exchange, start_response, 200,
                          completion(client, model, reply, text).model_dump())

    def _stream(self, client: ChatAPI, model: str, request: CompletionRequest,
                exchange: Exchange, start_response: StartResponse,
                watching: Optional[Watch]) -> Iterable[bytes]:
        reply = Reply(caller=caller_of(request))
        chunks = completion_chunks(client, model, request_texts(client, request, reply), reply,
                                   include_usage=request.include_usage)
        try:
            # The status waits for the first text, so a failure before any text is a real
            # HTTP error (429, 502, 504) that clients raise and retry as they do with OpenAI.
            first = next(chunks)
        except errors.ProviderError as exc:
            close_quietly(chunks)
            raise error_for(exc) from None
        except ValueError as exc:  # the plugin refuses this message (Protocol.check)
            close_quietly(chunks)
            raise bad_request(str(exc), "messages") from None
        except BaseException:
            close_quietly(chunks)
            raise
        exchange.status = 200
        start_response("200 OK", [*SSE_HEADERS, *exchange.headers])
        return StreamBody(model, first, chunks, ChunkEncoder(request.include_usage), exchange,
                          watching)

    @staticmethod
    def _gone(exchange: Exchange, start_response: StartResponse) -> Iterable[bytes]:
        """The answer to nobody (nginx's 499), for the log line."""
        exchange.status, exchange.outcome = 499, "client_gone"
        start_response("499 Client Closed Request", [("Content-Length", "0")])
        exchange.log()
        return [b""]


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


def caller_of(request: CompletionRequest) -> str:
    """Whose server-side conversations (AI Power 2.3+) a request may continue.

    Identical earlier turns from two callers are no proof of one caller, so a request
    continues a conversation only when it names its end user (OpenAI's ``user``, or
    ``safety_identifier``) as the request that started it did; any other request is a caller
    of its own, and starts a new conversation with the earlier turns written into it.

    >>> from chatgpt_providers.interfaces.openai_translation import translate_request
    >>> ask = {"messages": "Hi", "user": "alice"}
    >>> caller_of(translate_request(ask)) == caller_of(translate_request(ask))
    True
    >>> caller_of(translate_request({"messages": "Hi"})) == caller_of(translate_request({"messages": "Hi"}))
    False
    """
    if request.user:
        return "user:" + hashlib.sha256(request.user.encode("utf-8", "surrogatepass")).hexdigest()
    return "request:" + uuid.uuid4().hex

