"""A small HTTP/1.1 server on real sockets that does what a script says, for the tests that
check the client against what real servers do and the stand-in never would (a byte-order
mark, a socket kept open after the end marker, a cut connection, a redirect elsewhere)."""

from __future__ import annotations

import json
import socket
import threading
from typing import Callable, Dict, List, Optional

__all__ = ["Request", "Connection", "Script", "RawServer", "response", "json_response",
           "stream_head", "chunk", "LAST_CHUNK"]


class Request:
    """One request as the server received it."""

    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes, connection: int):
        self.method = method
        self.path = path
        self.headers = headers  # names lower-cased
        self.body = body
        self.connection = connection  # which accepted connection it came on (0, 1, ...)

    @property
    def form(self) -> Dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode("utf-8")))

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path} on connection {self.connection})"


class Connection:
    """The server side of one accepted connection, handed to the script."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.closed = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    def wait_for_client_close(self, timeout: float) -> bool:
        """Keep the connection open, sending nothing, until the client closes it (True) or
        ``timeout`` passes (False)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (socket.timeout, OSError):
            return False


Script = Callable[[Request, Connection], None]


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers each request with whatever bytes the
    script sends, and records what it received. A thread per connection; keep-alive until
    the script closes the connection or the client does."""

    def __init__(self, script: Script, *, listen: bool = True):
        self.script = script
        self.requests: List[Request] = []
        self.accepted = 0
        self.errors: List[BaseException] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: List[threading.Thread] = []
        self._stopped = threading.Event()
        self._connections: List[Connection] = []
        if listen:
            self.listen()

    def listen(self) -> None:
        """Start accepting (until then, connections are refused)."""
        self._sock.listen(16)
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            number = self.accepted
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        conn = Connection(sock)
        self._connections.append(conn)
        buffer = b""
        try:
            while not conn.closed:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(buffer) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                request = Request(method, path, headers, body, number)
                self.requests.append(request)
                self.script(request, conn)
        except BaseException as exc:  # noqa: BLE001 - reported by close()
            if not self._stopped.is_set():
                self.errors.append(exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._stopped.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._sock.close()
        for conn in list(self._connections):  # idle keep-alive connections a client still holds
            conn.close()
        for thread in self._threads:
            thread.join(5)
        assert not self.errors, self.errors

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def paths(self, method: Optional[str] = None) -> List[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


def response(status: str = "200 OK", body: bytes = b"", *, content_type: str = "text/html; charset=UTF-8",
             headers: Optional[Dict[str, str]] = None) -> bytes:
    """A complete response with Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(data: object, status: str = "200 OK", prefix: bytes = b"") -> bytes:
    return response(status, prefix + json.dumps(data).encode(), content_type="application/json")


def stream_head(content_type: str = "text/event-stream") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
