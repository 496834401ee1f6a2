"""HTTP to a provider's API: a bearer token refreshed on 401, throttling honoured.

429, 503 and Google's 403 ``rateLimitExceeded`` / ``userRateLimitExceeded`` are retried
with tenacity, waiting what ``Retry-After`` says (else exponential backoff with jitter),
up to ``attempts``; then ``Throttled`` tells the job to stop and continue later, with its
cursor where the last durable page left it.
"""

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from fetcher.domain.problems import ProblemKind, SyncProblem
from fetcher.providers.base import Throttled

_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class AccessTokens(Protocol):
    """A source of access tokens for one account; raises SyncProblem(CONSENT) when the
    provider no longer accepts the account's refresh token."""

    async def token(self) -> str:
        """A currently valid access token."""
        ...

    async def renew(self) -> str:
        """A fresh access token, whatever the cached one's expiry says."""
        ...


class ApiError(Exception):
    """The provider refused a request for a reason that is not throttling."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body

    @property
    def reason(self) -> str:
        """Google's ``error.errors[0].reason`` or Graph's ``error.code``, '' if neither."""
        return error_reason(self.body)


class RateLimited(Exception):  # noqa: N818 - retried, never raised out of this module
    """One throttled answer; ``retry_after`` seconds when the provider said."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"throttled, retry after {retry_after}")
        self.retry_after = retry_after


def error_reason(body: str) -> str:
    """The machine-readable reason of a Google or Graph error body."""
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return str(error)
    errors = error.get("errors") or []
    if errors and isinstance(errors[0], dict) and errors[0].get("reason"):
        return str(errors[0]["reason"])
    return str(error.get("code") or error.get("status") or "")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


def is_throttled(status: int, body: str) -> bool:
    """Whether an answer means "slow down" rather than "no"."""
    if status in RETRYABLE_STATUS:
        return True
    return status == 403 and error_reason(body) in _RATE_REASONS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a throttled request keeps trying before the job yields."""

    attempts: int = 8
    max_wait_s: float = 120.0
    initial_s: float = 1.0

    def wait(self, state: RetryCallState) -> float:
        """What Retry-After said, else exponential backoff with jitter."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait_s)
        backoff = wait_exponential_jitter(initial=self.initial_s, max=self.max_wait_s)
        return float(backoff(state))

    def retrying(self) -> AsyncRetrying:
        """A tenacity loop over throttled attempts."""
        return AsyncRetrying(
            retry=retry_if_exception_type(RateLimited),
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            reraise=True,
        )


class ApiClient:
    """Authorised requests to one provider API for one account."""

    def __init__(
        self, http: httpx.AsyncClient, tokens: AccessTokens, policy: RetryPolicy, name: str
    ) -> None:
        self._http = http
        self._tokens = tokens
        self.policy = policy
        self.name = name

    async def renew(self) -> None:
        """Refresh the access token (an inner request of a batch answered 401)."""
        await self._tokens.renew()

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, retried while throttled; returns any answer that is not throttling
        (the caller reads 2xx and the 4xx it knows). Raises Throttled after every attempt."""
        try:
            async for attempt in self.policy.retrying():
                with attempt:
                    response = await self._authorised(method, url, **kwargs)
                    if is_throttled(response.status_code, response.text):
                        raise RateLimited(retry_after(response.headers))
                    return response
        except RateLimited as error:
            raise Throttled(f"{self.name} kept throttling {method} {url}") from error
        raise AssertionError("unreachable: tenacity reraises")

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A request whose 2xx answer is JSON; any other answer raises ApiError."""
        response = await self.send(method, url, **kwargs)
        if response.status_code >= 300:
            raise ApiError(response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    async def _authorised(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {await self._tokens.token()}"
        response = await self._request(method, url, headers, kwargs)
        if response.status_code == 401:  # expired or revoked access token: refresh once
            headers["Authorization"] = f"Bearer {await self._tokens.renew()}"
            response = await self._request(method, url, headers, kwargs)
            if response.status_code == 401:
                raise SyncProblem(ProblemKind.CONSENT, self.name, "access token refused")
        return response

    async def _request(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException as error:
            raise RateLimited(None) from error  # a slow provider is retried like a busy one
        except httpx.TransportError as error:
            raise SyncProblem(ProblemKind.CONNECTION, self.name, repr(error)) from error
