"""How the emulators deliver notifications: HTTP POSTs sent from a thread of their own, in
order, so a test that adds mail is not held up by the receiver (as at the providers,
where delivery is asynchronous). Each delivery is recorded with its answer; a refused or
failed one is tried again a few times, as Pub/Sub and Graph do (with a short backoff
here instead of minutes)."""

import queue
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Delivery:
    """One notification as sent, and how the receiver answered (0: not reached)."""

    url: str
    body: bytes
    headers: dict[str, str]
    queued_at: float
    status: int = 0
    answered_at: float = 0.0
    attempts: int = 0
    answer: str = ""


@dataclass
class Notifier:
    """Sends notifications to receivers in the background."""

    verify: str | bool = True
    attempts: int = 3
    backoff_s: float = 0.2
    timeout_s: float = 10.0
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: "queue.Queue[Delivery | None]" = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Delivery:
        """Queue a POST; returns its record (filled in once answered)."""
        delivery = Delivery(url, body, headers, time.monotonic())
        with self._lock:
            self.deliveries.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def _run(self) -> None:
        with httpx.Client(verify=self.verify, timeout=self.timeout_s) as client:
            while (delivery := self._queue.get()) is not None:
                self._send(client, delivery)

    def _send(self, client: httpx.Client, delivery: Delivery) -> None:
        for attempt in range(1, self.attempts + 1):
            delivery.attempts = attempt
            try:
                answer = client.post(delivery.url, content=delivery.body, headers=delivery.headers)
                delivery.status, delivery.answer = answer.status_code, answer.text[:500]
            except httpx.HTTPError as error:
                delivery.status, delivery.answer = 0, repr(error)
            delivery.answered_at = time.monotonic()
            if 200 <= delivery.status < 300 or 400 <= delivery.status < 500:
                return  # taken, or refused for good (a 4xx is not retried here)
            time.sleep(self.backoff_s * attempt)

    def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Until every queued notification was answered (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                pending = [d for d in self.deliveries if d.answered_at == 0.0]
            if not pending:
                return
            time.sleep(0.02)

    def to(self, url_part: str) -> list[Delivery]:
        """The deliveries to URLs containing ``url_part``."""
        with self._lock:
            return [d for d in self.deliveries if url_part in d.url]

    def close(self) -> None:
        """Stop the sending thread once what is queued is sent."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
