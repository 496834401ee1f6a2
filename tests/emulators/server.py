"""Running an emulator: a uvicorn server on 127.0.0.1 on a thread of its own."""

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

Reply = tuple[int, dict[str, str], dict[str, Any]]
"""An emulated API call's answer: status, headers and JSON body."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmulatorServer:
    """Serves an ASGI app until stopped; ``base_url`` is where it listens."""

    def __init__(
        self,
        app: Callable[..., Any],
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self.port = free_port()
        scheme = "https" if certfile else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            lifespan="off",
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def __enter__(self) -> "EmulatorServer":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=1)
        if self._thread.is_alive():  # a client kept its connection open (msal's session)
            self._server.force_exit = True
            self._thread.join(timeout=10)
