"""Structured logs: one JSON object a line, with the trace id when there is one."""

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON, with extra fields and the current trace id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Repeats(logging.Filter):
    """Lets each message of a chatty library through once per ``every_s`` seconds, the
    next one saying how many were held back (``repeated``). While Kafka is down, aiokafka
    logs the same connection failure hundreds of times a second; the runtime's own
    "waiting for Kafka" and "Kafka is back" say what matters (crm_runtime.outages)."""

    def __init__(self, prefixes: tuple[str, ...], every_s: float = 60.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._every_s = every_s
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))  # the template, not its values
        now = time.monotonic()
        last, held = self._seen.get(key, (-self._every_s, 0))
        if now - last < self._every_s:
            self._seen[key] = (last, held + 1)
            return False
        if held:
            record.repeated = held
        self._seen[key] = (now, 0)
        return True


def setup_logging(service: str, level: str, as_json: bool) -> None:
    """Send every log of the process to stderr, as JSON unless told otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Repeats(("aiokafka",)))
    if as_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "faststream.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
