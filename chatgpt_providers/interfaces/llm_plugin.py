"""The ``llm`` plugin (``pip install 'chatgpt-providers[llm]'``): the presets and saved sites
as ``llm`` models.

    llm -m chatgptt "Hi"
    llm -m chatgpt4online -o base_url https://site.example -o page /chat/ "Hi"
    llm chatgpt-providers add mysite https://site.example/chat/    # then: llm -m mysite "Hi"
    llm chat -m mysite

``llm`` loads this module through the ``llm`` entry point; ``import chatgpt_providers``
never imports it (nor ``llm``). A conversation (``llm chat``, ``llm -c``) continues the
site's own conversation: one SDK :class:`~chatgpt_providers.Conversation` per ``llm``
conversation, kept while the process runs and rebuilt from ``llm``'s log (the earlier
turns and the site's conversation id recorded in ``response_json``) when a new process
continues it. Errors of the package reach ``llm`` as :class:`llm.ModelError`, which it shows
as one line.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

import click
import llm
from pydantic import Field, field_validator

from .. import errors
from .registry import PRESETS as _PRESET_ROWS

try:  # llm's message log (newer llm), where `llm -c` reads earlier turns from
    from llm.parts import StreamEvent
except ImportError:  # older llm: `llm -c` rebuilds the responses, response_json included
    StreamEvent = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from ..core.provider import ChatProvider
    from .conversation import Conversation

__all__ = ["SiteModel", "Sites", "register_models", "register_commands", "PRESETS", "SITES_FILE"]

#: The presets as ``llm`` model ids, with the client each names (resolve_provider's names).
PRESETS = {entry.key: entry.client.__name__ for entry in _PRESET_ROWS}
#: Where ``llm chatgpt-providers add`` keeps the saved sites, in ``llm``'s user directory.
SITES_FILE = "chatgpt-providers.json"
#: SDK conversations kept per process (``llm chat`` uses one; library code may open many).
MAX_CONVERSATIONS = 256


class SiteOptions(llm.Options):
    """``-o`` options of every model of this plugin."""

    base_url: Optional[str] = Field(
        default=None, description="The site's address, e.g. https://site.example (default: the "
                                  "preset's site, or the saved one)")
    page: Optional[str] = Field(
        default=None, description="The path of the page that shows the chatbot, e.g. /chat/")
    bot_id: Optional[str] = Field(
        default=None, description="The chatbot's id when the page shows several (default: the "
                                  "page's own)")

    @field_validator("base_url")
    @classmethod
    def _http_address(cls, value: Optional[str]) -> Optional[str]:
        from ..core.provider import normalize_base_url

        if value is None:
            return None
        try:
            return normalize_base_url(value, "-o base_url")
        except ValueError:
            raise ValueError(f"-o base_url must be an http(s) address like "
                             f"https://site.example; got {value!r}") from None

    @field_validator("page")
    @classmethod
    def _path(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"-o page must be a path on the site starting with /, e.g. /chat/; "
                             f"got {value!r}")
        return value


class SiteModel(llm.Model):
    """One site as an ``llm`` model: a preset, or a site saved with
    ``llm chatgpt-providers add``.

    >>> model = SiteModel("chatgptt", "ChatGptt")
    >>> str(model), model.can_stream
    ('ChatGptt: chatgptt', True)
    """

    can_stream = True
    Options = SiteOptions  # type: ignore[assignment]  # llm's own pattern for model options

    def __init__(self, model_id: str, provider: str, *, base_url: Optional[str] = None,
                 page: Optional[str] = None, bot_id: Optional[str] = None) -> None:
        self.model_id = model_id
        #: The client class by name (``resolve_provider``'s names).
        self.provider = provider
        self.defaults = {"base_url": base_url, "page": page, "bot_id": bot_id}

    def __str__(self) -> str:
        return f"{self.provider}: {self.model_id}"

    def execute(self, prompt: Any, stream: bool, response: Any, conversation: Any) -> Iterator[Any]:
        """Stream the reply; ``llm`` calls it (``stream`` False: the text is only collected)."""
        earlier = Earlier.of(conversation)
        client = _CLIENTS.get(self, self.settings(prompt.options, earlier.sites))
        chat = _CONVERSATIONS.get(getattr(conversation, "id", None), client,
                                  prompt.system or earlier.system, earlier.history)
        try:
            yield from chat.stream(prompt.prompt)
        except errors.ProviderError as exc:
            raise llm.ModelError(_one_line(exc)) from exc
        reply = chat.last_reply
        if reply is None:  # the stream ended whole, so the turn was recorded
            raise RuntimeError("the conversation recorded no reply for a finished turn")
        site = {"provider": reply.provider or client.name, "model": self.model_id,
                "base_url": client.base_url, "page": client.page_url[len(client.base_url):] or "/",
                "bot_id": client.bot_id}
        response.response_json = site
        if StreamEvent is not None:  # newer llm: kept with the answer in its message log too
            yield StreamEvent(type="text", chunk="", provider_metadata={METADATA_KEY: site})
        if reply.usage:
            response.set_usage(input=reply.usage.get("prompt_tokens"),
                               output=reply.usage.get("completion_tokens"))

    def settings(self, options: Any, sites: List[Dict[str, Any]]) -> Dict[str, Optional[str]]:
        """The site to talk to: the ``-o`` options given, else the site this model answered
        from last in the conversation (``llm -c`` repeats no options), else the model's own.

        >>> model = SiteModel("chatgptt", "ChatGptt")
        >>> model.settings(SiteOptions(page="/chat/"), [])
        {'base_url': None, 'page': '/chat/', 'bot_id': None}
        >>> model.settings(SiteOptions(), [{"model": "chatgptt", "base_url": "http://s", "page": "/"}])
        {'base_url': 'http://s', 'page': '/', 'bot_id': None}
        """
        given = {name: getattr(options, name, None) for name in self.defaults}
        if any(value is not None for value in given.values()):
            return {name: value if value is not None else self.defaults[name]
                    for name, value in given.items()}
        for site in reversed(sites):
            if site.get("model") == self.model_id:
                return {name: site.get(name) if isinstance(site.get(name), str) else None
                        for name in self.defaults}
        return dict(self.defaults)


#: The key of this plugin's record in an answer's ``provider_metadata`` (llm's message log).
METADATA_KEY = "chatgpt_providers"


def _one_line(exc: errors.ProviderError) -> str:
    where = f" ({exc.provider})" if exc.provider else ""
    return f"{type(exc).__name__}{where}: {' '.join(str(exc).split())}"


class Earlier:
    """What ``llm`` knows of a conversation's earlier turns: the ``system`` prompt, the
    ``history`` as user/assistant messages, and the ``sites`` that answered (one record per
    answer of this plugin, oldest first). Read from ``conversation.responses`` (this
    process, and ``llm -c`` before llm 0.30) or ``conversation.loaded_messages`` (``llm -c``
    from llm 0.30 on, which rebuilds no responses).
    """

    def __init__(self, system: Optional[str], history: List[Dict[str, str]],
                 sites: List[Dict[str, Any]]) -> None:
        self.system = system
        self.history = history
        self.sites = sites

    @classmethod
    def of(cls, conversation: Any) -> Earlier:
        """Read ``conversation`` (None: nothing earlier).

        >>> Earlier.of(None).history
        []
        """
        system: Optional[str] = None
        history: List[Dict[str, str]] = []
        sites: List[Dict[str, Any]] = []
        responses = list(getattr(conversation, "responses", None) or [])
        if responses:
            for response in responses:
                system = system or response.prompt.system or None
                history += [{"role": "user", "content": response.prompt.prompt},
                            {"role": "assistant", "content": response.text()}]
                if isinstance(response.response_json, dict):
                    sites.append(response.response_json)
            return cls(system, history, sites)
        for message in getattr(conversation, "loaded_messages", None) or []:
            texts = [part for part in message.parts if type(part).__name__ == "TextPart"]
            content = "".join(part.text for part in texts)
            if message.role == "system":
                system = system or content or None
            elif message.role in ("user", "assistant"):
                history.append({"role": message.role, "content": content})
            for part in texts:
                site = (part.provider_metadata or {}).get(METADATA_KEY)
                if isinstance(site, dict):
                    sites.append(site)
        return cls(system, history, sites)


class _Clients:
    """One client per model and site, for the process (a ``llm chat`` keeps its connection
    and the site's nonce)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: Dict[Tuple[Optional[str], ...], ChatProvider] = {}

    def get(self, model: SiteModel, settings: Dict[str, Optional[str]]) -> ChatProvider:
        from ..core.provider import ChatProvider
        from .compat import resolve_provider

        key = (model.provider, settings["base_url"], settings["page"], settings["bot_id"])
        with self._lock:
            client = self._made.get(key)
            if client is None:
                made = resolve_provider(model.provider, **{name: value for name, value in
                                                           settings.items() if value is not None})
                if not isinstance(made, ChatProvider):  # a name makes one site's client
                    raise TypeError(f"{model.provider!r} names no single site's client")
                client = self._made[key] = made
            return client


class _Conversations:
    """The SDK conversation of each ``llm`` conversation: the one kept in this process while
    it holds exactly the turns ``llm`` knows, else a new one holding them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, Conversation] = OrderedDict()

    def get(self, key: Optional[str], client: ChatProvider, system: Optional[str],
            history: List[Dict[str, str]]) -> Conversation:
        from .conversation import Conversation

        with self._lock:
            chat = self._kept.get(key) if key is not None else None
        if (chat is None or chat.provider is not client
                or [m for m in chat.messages if m["role"] != "system"] != history):
            chat = Conversation(client, system=system, history=history)
        elif system != chat.system:
            chat.system = system  # `llm -c -s ...`: the new instructions from this turn on
        if key is not None:
            with self._lock:
                self._kept[key] = chat
                self._kept.move_to_end(key)
                while len(self._kept) > MAX_CONVERSATIONS:
                    self._kept.popitem(last=False)
        return chat


_CLIENTS = _Clients()
_CONVERSATIONS = _Conversations()


# -- saved sites -------------------------------------------------------------------------


class Sites:
    """The sites saved with ``llm chatgpt-providers add``: ``{name: settings}`` in
    ``SITES_FILE`` in ``llm``'s user directory.

    >>> import tempfile, pathlib
    >>> sites = Sites(pathlib.Path(tempfile.mkdtemp()) / "sites.json")
    >>> sites.save("mysite", {"provider": "AIEngine", "base_url": "https://s.example",
    ...                       "page": "/chat/", "bot_id": None})
    >>> sorted(sites.load())
    ['mysite']
    """

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = path if path is not None else llm.user_dir() / SITES_FILE

    def load(self) -> Dict[str, Dict[str, Any]]:
        """The saved sites (none when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            sites = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{self.path} is not valid JSON ({exc}); fix or delete it") from None
        if not isinstance(sites, dict):
            raise click.ClickException(f"{self.path} should hold an object of saved sites")
        return sites

    def save(self, name: str, settings: Optional[Dict[str, Any]]) -> None:
        """Save ``settings`` as ``name`` (None removes it); the file is replaced whole."""
        sites = self.load()
        if settings is None:
            sites.pop(name, None)
        else:
            sites[name] = settings
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".chatgpt-providers-")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(sites, file, indent=2, sort_keys=True)
        os.replace(temporary, self.path)


@llm.hookimpl
def register_models(register: Any) -> None:
    """The presets, then every saved site."""
    for model_id, provider in PRESETS.items():
        register(SiteModel(model_id, provider))
    for name, settings in Sites().load().items():
        if isinstance(settings, dict) and name not in PRESETS:
            register(SiteModel(name, str(settings.get("provider")),
                               base_url=settings.get("base_url"), page=settings.get("page"),
                               bot_id=settings.get("bot_id")))


@llm.hookimpl
def register_commands(cli: Any) -> None:
    """``llm chatgpt-providers add/list/remove``."""
    from .detection import DETECTORS

    @cli.group(name="chatgpt-providers")
    def group() -> None:
        "Sites with an AI Engine or AI Power chatbot, saved as models"

    @group.command(name="add")
    @click.argument("name")
    @click.argument("url")
    @click.option("--bot-id", help="The chatbot's id when the page shows several")
    @click.option("--prefer", type=click.Choice([name for name, _ in DETECTORS]),
                  help="The plugin to use when the page shows several")
    @click.option("--timeout", type=float, default=30.0, show_default=True,
                  help="Seconds to wait for the page")
    def add(name: str, url: str, bot_id: Optional[str], prefer: Optional[str],
            timeout: float) -> None:
        """Save the chatbot on the page at URL as the model NAME

        Example: llm chatgpt-providers add mysite https://site.example/chat/
        """
        from .detection import connect

        if not name.strip() or any(c.isspace() for c in name):
            raise click.BadParameter("a model name without spaces, e.g. mysite", param_hint="NAME")
        if name in PRESETS:
            raise click.BadParameter(f"{name!r} is a preset; pick another name", param_hint="NAME")
        options: Dict[str, Any] = {"timeout": timeout}
        if bot_id is not None:
            options["bot_id"] = bot_id
        try:
            client = connect(url, prefer=prefer, **options)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from None
        except errors.ProviderError as exc:
            raise click.ClickException(_one_line(exc)) from None
        with client:
            page = client.page_url[len(client.base_url):] or "/"
            settings = {"provider": type(client).__name__, "base_url": client.base_url,
                        "page": page, "bot_id": bot_id}
        Sites().save(name, settings)
        click.echo(f"Saved {name}: {client.plugin} at {client.base_url}{page} "
                   f"(use: llm -m {name} 'Hi')")

    @group.command(name="list")
    def list_sites() -> None:
        "List the saved sites"
        for name, settings in sorted(Sites().load().items()):
            bot = f" bot {settings.get('bot_id')}" if settings.get("bot_id") else ""
            click.echo(f"{name}: {settings.get('provider')} at "
                       f"{settings.get('base_url')}{settings.get('page') or '/'}{bot}")

    @group.command(name="remove")
    @click.argument("name")
    def remove(name: str) -> None:
        "Forget the saved site NAME"
        sites = Sites()
        if name not in sites.load():
            raise click.ClickException(f"no saved site {name!r}; see llm chatgpt-providers list")
        sites.save(name, None)
        click.echo(f"Removed {name}")
