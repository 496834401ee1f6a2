"""Two tiny HTTP servers for the SSRF tests: one on 127.0.0.1 that redirects every
request, and one on another loopback address that only counts what reaches it."""

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = range(20000, 32000)  # outside Linux's ephemeral range, as the stack's ports are


def serve_on(host: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A server on ``host`` at a free port of ``PORTS``."""
    for port in random.sample(PORTS, 50):
        try:
            return ThreadingHTTPServer((host, port), handler)
        except OSError:
            continue
    raise OSError(f"no free port in {PORTS} on {host}")


@contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[str]:
    """The server serving in a thread; its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def redirect_to_a_private_address() -> Iterator[tuple[str, list[str]]]:
    """A URL on 127.0.0.1 whose every request is redirected to 127.0.0.2, and the list
    of requests that reached 127.0.0.2."""
    reached: list[str] = []

    class Target(BaseHTTPRequestHandler):
        def _any(self) -> None:
            reached.append(f"{self.command} {self.path}")
            self.send_response(207)
            self.end_headers()

        do_GET = do_PROPFIND = do_REPORT = do_OPTIONS = _any  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            return

    with running(serve_on("127.0.0.2", Target)) as target:

        class Redirect(BaseHTTPRequestHandler):
            def _any(self) -> None:
                self.send_response(307)
                self.send_header("Location", f"{target.rstrip('/')}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PROPFIND = do_REPORT = do_OPTIONS = _any  # noqa: N815

            def log_message(self, *args: object) -> None:
                return

        with running(serve_on("127.0.0.1", Redirect)) as start:
            yield start, reached
