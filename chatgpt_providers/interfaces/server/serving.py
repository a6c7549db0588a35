"""Serving the application with waitress: :class:`APIServer` (a background thread or the
calling one, stopped by Ctrl-C, SIGTERM or :meth:`APIServer.close`) and :func:`serve_api`,
what ``chatgpt-providers api`` runs.

Constraints: waitress is imported only here and only when a server is made; stopping closes
every connection (open streams end) and waits at most ``shutdown_timeout`` for the request
threads; ``channel_request_lookahead=1`` lets waitress notice a caller that hung up (it
then never starts a request still queued for it, and the app sees
``waitress.client_disconnected``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from .app import MAX_BODY_BYTES, OWNER, create_app
from .models import DEFAULT_THREADS

__all__ = ["APIServer", "serve_api", "is_loopback", "connectable_host", "DEFAULT_PORT",
           "INSTALL_HINT"]

log = logging.getLogger("chatgpt_providers")

#: The port ``chatgpt-providers api`` listens on unless told otherwise (gpt4free's).
DEFAULT_PORT = 1337
#: What to run when the WSGI server is missing.
INSTALL_HINT = "pip install 'chatgpt-providers[server]'"




def _waitress() -> Any:
    """The waitress module, or ModuleNotFoundError saying how to install it."""
    try:
        import waitress.server  # type: ignore
        import waitress.wasyncore  # type: ignore # noqa: F401 - the loop APIServer runs
    except ImportError as exc:
        raise ModuleNotFoundError(f"the API server needs waitress: {INSTALL_HINT}",
                                  name="waitress") from exc
    return waitress


def connectable_host(host: str) -> str:
    """An address to connect to for a listen address: the loopback of the same family for a
    wildcard (which means "every address here", and is no destination).

    >>> connectable_host("0.0.0.0"), connectable_host("::"), connectable_host("192.0.2.7")
    ('127.0.0.1', '::1', '192.0.2.7')
    """
    import ipaddress

    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return host


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
            ident=OWNER, asyncore_use_poll=True, clear_untrusted_proxy_headers=True,
            # Bodies up to 4x the app's cap are read and answered 413 in OpenAI's shape by the
            # app; waitress refuses anything larger itself, before buffering it.
            max_request_body_size=4 * limit,
            # Keeps reading a connection while its request waits or runs, so waitress sees a
            # caller hang up: a queued request is then never started, and a running one sees
            # environ["waitress.client_disconnected"]() (see disconnects.py).
            channel_request_lookahead=1)
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
        """``http://host:port`` to connect to the first socket (add ``/v1`` for OpenAI
        clients): a wildcard listen address (``0.0.0.0``, ``::``) becomes this machine's
        loopback, an address one can connect to."""
        host, port = self.addresses[0]
        host = connectable_host(host)
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
                try:
                    trigger.pull_trigger(lambda: self._loop.close_all(self._map, ignore_all=True))
                except OSError:  # the trigger is already closed: no loop to ask; close here
                    self._shutdown()
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
