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

The package, one job per module: :mod:`.api_errors` (OpenAI's error JSON), :mod:`.models`
(the served models and their shared clients), :mod:`.request` (routes, bodies, checks),
:mod:`.streaming` (server-sent events), :mod:`.app` (the WSGI application) and
:mod:`.serving` (waitress, signals). Requests are translated by
:mod:`chatgpt_providers.interfaces.openai_translation`, as the Python ``Client``'s are.

Nothing here imports waitress, opens a socket or starts a thread until asked to.
"""

from __future__ import annotations

import os
from typing import Any

from .api_errors import APIError, error_for
from .app import MAX_BODY_BYTES, ChatCompletionsApp, create_app
from .models import AUTO, DEFAULT_THREADS, PRESET_MODELS, Models, parse_site
from .serving import DEFAULT_PORT, INSTALL_HINT, APIServer, connectable_host, is_loopback, serve_api

__all__ = ["create_app", "ChatCompletionsApp", "Models", "APIServer", "serve_api", "APIError",
           "error_for", "parse_site", "DEFAULT_PORT", "DEFAULT_THREADS", "MAX_BODY_BYTES",
           "PRESET_MODELS", "AUTO", "INSTALL_HINT", "API_KEY_VARIABLE", "is_loopback",
           "connectable_host"]

#: Environment variable the module-level ``app`` reads its API key from.
API_KEY_VARIABLE = "CHATGPT_PROVIDERS_API_KEY"


def __getattr__(name: str) -> Any:
    """``app``: an application with the default models, made on first access (its key from
    ``$CHATGPT_PROVIDERS_API_KEY``), for ``waitress-serve ...server:app`` and the like."""
    if name == "app":
        value = create_app(api_key=os.environ.get(API_KEY_VARIABLE) or None)
        globals()["app"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
