"""Options that gpt4free-style and OpenAI-style calls pass by habit, and how a client is made
from them: sampling settings and gpt4free-only switches are accepted and ignored (the
site's bot settings decide them), and a misspelt option is a clear ``TypeError`` that names
the class you called, not an internal one.

Imports nothing heavy: ``inspect`` and ``difflib`` are loaded only to explain a bad option.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, FrozenSet, List, Mapping

__all__ = ["SAMPLING_OPTIONS", "GPT4FREE_OPTIONS", "IGNORED_OPTIONS", "split_options",
           "build_client"]

log = logging.getLogger("chatgpt_providers")

#: Sampling settings: the site's bot settings decide them, so they are accepted and ignored.
SAMPLING_OPTIONS: FrozenSet[str] = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "max_new_tokens",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "stop", "seed",
    "logit_bias", "reasoning_effort",
})
#: Switches of gpt4free's ``ChatCompletion.create`` / ``create_completion`` that mean nothing
#: here (keys, provider selection, web search, continuation): accepted and ignored.
GPT4FREE_OPTIONS: FrozenSet[str] = frozenset({
    "api_key", "api_base", "auth", "web_search", "ignored", "ignore_working", "ignore_stream",
    "auto_continue", "completion_model", "continuation_attempts", "conversation",
    "return_conversation", "conversation_id", "language",
})
#: Every option :func:`split_options` drops.
IGNORED_OPTIONS: FrozenSet[str] = SAMPLING_OPTIONS | GPT4FREE_OPTIONS


def split_options(cls: type, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The options meant for ``cls``'s constructor: ``options`` without the ignored ones
    (:data:`IGNORED_OPTIONS`, logged at DEBUG).

    >>> from chatgpt_providers import ChatGptt
    >>> split_options(ChatGptt, {"timeout": 5, "temperature": 0.2, "web_search": True})
    {'timeout': 5}
    """
    kept = {name: value for name, value in options.items() if name not in IGNORED_OPTIONS}
    if len(kept) != len(options):
        log.debug("%s: ignored options %s: the site's bot settings decide them", cls.__name__,
                  sorted(set(options) - set(kept)))
    return kept


def build_client(cls: type, **options: Any) -> Any:
    """``cls(**options)`` without the ignored options; an unknown option raises a
    ``TypeError`` naming ``cls`` and the options it takes.

    >>> from chatgpt_providers import ChatGptt
    >>> build_client(ChatGptt, timeout=5, max_tokens=100).transport.timeout
    (5.0, 5.0)
    >>> build_client(ChatGptt, tiemout=5)
    Traceback (most recent call last):
    ...
    TypeError: ChatGptt() got an unexpected option 'tiemout' (did you mean 'timeout'?); ...
    """
    kept = split_options(cls, options)
    try:
        return cls(**kept)
    except TypeError as exc:
        explained = _explain_unknown(cls, kept)
        if explained is None:
            raise
        raise explained from exc


def _accepted(cls: type) -> List[str]:
    """The keyword options ``cls(...)`` takes, following ``**options`` up to the base classes."""
    import inspect

    names: List[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            break
        more = False
        for parameter in parameters:
            if parameter.kind is parameter.VAR_KEYWORD:
                more = True
            elif parameter.kind is not parameter.VAR_POSITIONAL and parameter.name not in (
                    "self", *names):
                names.append(parameter.name)
        if not more:
            break
    return names


def _explain_unknown(cls: type, options: Mapping[str, Any]) -> Any:
    """A TypeError naming ``cls`` for the options it does not take, or None if it takes them all."""
    accepted = _accepted(cls)
    unknown = [name for name in options if name not in accepted]
    if not unknown or not accepted:
        return None
    import difflib

    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, accepted + sorted(IGNORED_OPTIONS), n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    plural = "s" if len(unknown) > 1 else ""
    return TypeError(
        f"{cls.__name__}() got an unexpected option{plural} {', '.join(hints)}; it takes "
        f"{', '.join(accepted)} (sampling options such as temperature= and gpt4free's "
        "web_search=, api_key= are accepted and ignored)"
    )
