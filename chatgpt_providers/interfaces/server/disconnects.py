"""Work for callers that left is stopped: the site's connection of a request whose caller hung
up is closed, even while the site sends nothing.

Constraint: a request thread blocked reading a quiet site would otherwise wait for the read
timeout (60 s by default) before it could notice anything. So one watcher thread (started on
the first watched request, ended when none is left) asks waitress every
:data:`POLL_SECONDS` whether each watched caller is gone
(``environ["waitress.client_disconnected"]``), and shuts down the sockets of that request's
site answers; the blocked read then ends at once and the request ends as the stream would
after a cut connection. The answers are recorded by a ``response`` hook on the clients'
sessions, per request thread: a shared client's other requests are never touched. A site
that has not yet sent its answer's headers has no answer to record, so it is cut only when
they arrive. Under a WSGI server other than waitress nothing is watched.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable, List, Optional, Set

__all__ = ["Watch", "watch", "watch_clients_of", "POLL_SECONDS"]

log = logging.getLogger("chatgpt_providers")

#: How often the watcher asks whether the callers are still there.
POLL_SECONDS = 0.2

_local = threading.local()  # .watch: the Watch of the request this thread is answering
_lock = threading.Lock()
_watches: Set[Watch] = set()
_wake = threading.Condition(_lock)
_running = False


class Watch:
    """One request's caller, and the site answers its thread received (see the module)."""

    __slots__ = ("client_left", "responses", "cut", "__weakref__")

    def __init__(self, client_left: Callable[[], bool]) -> None:
        self.client_left = client_left
        self.responses: List[Any] = []
        self.cut = False

    def close_upstream(self) -> None:
        """Shut down the sockets of every recorded answer (safe from another thread)."""
        self.cut = True
        for response in list(self.responses):
            sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def end(self) -> None:
        """Stop watching (the request ended); idempotent."""
        with _lock:
            _watches.discard(self)
        if getattr(_local, "watch", None) is self:
            _local.watch = None
        self.responses.clear()


def watch(client_left: Optional[Callable[[], bool]]) -> Optional[Watch]:
    """Watch the request this thread answers from now until :meth:`Watch.end`; None (nothing
    watched) without a way to know that the caller left.

    >>> watch(None) is None
    True
    """
    global _running
    if client_left is None:
        return None
    item = Watch(client_left)
    _local.watch = item
    with _lock:
        _watches.add(item)
        if not _running:
            _running = True
            threading.Thread(target=_watch_loop, name="chatgpt-providers-api-watch",
                             daemon=True).start()
        _wake.notify()
    return item


def _watch_loop() -> None:
    global _running
    while True:
        with _lock:
            if not _watches:
                _running = False
                return
            current = list(_watches)
        for item in current:
            if item.cut:
                continue
            try:
                gone = item.client_left()
            except Exception:  # noqa: BLE001 - a server's callable failing must not stop the watch
                gone = False
            if gone:
                log.debug("caller left: closing the site's connection")
                item.close_upstream()
        with _lock:
            _wake.wait(POLL_SECONDS)


def _record(response: Any, *args: Any, **kwargs: Any) -> None:
    """requests' ``response`` hook: the answer belongs to this thread's watched request."""
    item = getattr(_local, "watch", None)
    if item is not None:
        item.responses.append(response)
        if item.cut:  # the caller left while this request was being sent
            item.close_upstream()


def watch_clients_of(client: Any) -> None:
    """Add the recording hook to the sessions of ``client`` (a provider or a RetryProvider),
    once each.

    >>> from chatgpt_providers import ChatGptt
    >>> bot = ChatGptt(); watch_clients_of(bot); watch_clients_of(bot)
    >>> bot.transport.session.hooks["response"].count(_record)
    1
    """
    for provider in getattr(client, "providers", None) or [client]:
        session = getattr(getattr(provider, "transport", None), "session", None)
        if session is None:
            continue
        with _lock:
            hooks = session.hooks.setdefault("response", [])
            if _record not in hooks:
                hooks.append(_record)
