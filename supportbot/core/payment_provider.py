"""The payment provider that actually sends money back.

`PaymentProvider` is the interface the refund service calls. Two implementations:

* `DryRunPaymentProvider` (the default, `SUPPORTBOT_PAYMENT_PROVIDER=dry-run`): moves no money,
  records every call it would have made in `calls` (thread-safe; tests inspect it) and answers
  like an idempotent provider (the same idempotency key returns the same refund).
* `HttpPaymentProvider` (`SUPPORTBOT_PAYMENT_PROVIDER=http`): POSTs to
  `{SUPPORTBOT_PAYMENT_API_URL}/refunds` with `requests`, connect/read timeouts, and retries on
  errors that are safe to retry - connection errors, timeouts, 429, 502, 503, 504 - always
  with the same `Idempotency-Key` header, so that a retried request cannot refund twice.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import requests

from supportbot.core.timeutil import utcnow

if TYPE_CHECKING:
    from supportbot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderRefundRequest:
    idempotency_key: str
    order_reference: str
    amount_minor: int
    currency: str
    payment_method: str
    charge_reference: str | None = None  # the provider's id of the original charge
    reason: str | None = None


@dataclass(frozen=True)
class ProviderRefundResult:
    provider_reference: str
    status: str  # succeeded | pending


class PaymentProviderError(RuntimeError):
    """The provider did not confirm the refund.

    `retryable` is True when the request may not have reached the provider (or it asked us to
    come back later); the money may or may not have moved - reconcile with the idempotency key.
    """

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class PaymentProvider(Protocol):
    name: str

    def refund(self, request: ProviderRefundRequest) -> ProviderRefundResult:
        """Refund `request.amount_minor`; idempotent per `request.idempotency_key`."""


@dataclass(frozen=True)
class RecordedCall:
    operation: str
    request: ProviderRefundRequest
    at: datetime


@dataclass
class DryRunPaymentProvider:
    """Moves no money; remembers every call (`calls`) and answers like a real provider."""

    name: str = "dry-run"
    calls: list[RecordedCall] = field(default_factory=list)
    clock: Callable[[], datetime] = utcnow
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _results: dict[str, ProviderRefundResult] = field(default_factory=dict, repr=False)

    def refund(self, request: ProviderRefundRequest) -> ProviderRefundResult:
        with self._lock:
            self.calls.append(RecordedCall("refund", request, self.clock()))
            result = self._results.get(request.idempotency_key)
            if result is None:
                digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:16]
                result = ProviderRefundResult(provider_reference=f"dryrun_re_{digest}",
                                              status="succeeded")
                self._results[request.idempotency_key] = result
        log.info("dry-run refund of %s %s for order %s (key %s)", request.amount_minor,
                 request.currency, request.order_reference, request.idempotency_key)
        return result

    def refund_calls(self) -> list[ProviderRefundRequest]:
        with self._lock:
            return [call.request for call in self.calls if call.operation == "refund"]


RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class HttpPaymentProvider:
    """A JSON-over-HTTP payment API: `POST {base_url}/refunds`.

    Request body: `{"order_reference", "amount_minor", "currency", "payment_method",
    "charge_reference", "reason"}`; headers `Idempotency-Key` and, when an API key is set,
    `Authorization: Bearer <key>`. A 2xx answer is `{"id": "...", "status": "succeeded|pending"}`.
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 8.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.session = session or requests.Session()
        self.sleep = sleep

    def _headers(self, request: ProviderRefundRequest) -> dict[str, str]:
        headers = {"Idempotency-Key": request.idempotency_key, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        delay = min(self.backoff_seconds * (2.0 ** (attempt - 1)), self.max_backoff_seconds)
        if response is not None:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(float(retry_after), self.max_backoff_seconds)
        return delay

    def refund(self, request: ProviderRefundRequest) -> ProviderRefundResult:
        body = {
            "order_reference": request.order_reference,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "payment_method": request.payment_method,
            "charge_reference": request.charge_reference,
            "reason": request.reason,
        }
        url = f"{self.base_url}/refunds"
        last_error: PaymentProviderError | None = None
        for attempt in range(1, self.max_attempts + 1):
            response = None
            try:
                response = self.session.post(url, json=body, headers=self._headers(request),
                                             timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                # safe to retry: the idempotency key stops a second refund if the first arrived
                last_error = PaymentProviderError(f"{url}: {exc.__class__.__name__}: {exc}",
                                                  retryable=True)
            else:
                if 200 <= response.status_code < 300:
                    return self._parse(response)
                retryable = response.status_code in RETRYABLE_STATUS
                last_error = PaymentProviderError(
                    f"{url}: HTTP {response.status_code}: {response.text[:200]}",
                    retryable=retryable, status_code=response.status_code,
                )
                if not retryable:
                    raise last_error
            if attempt < self.max_attempts:
                delay = self._delay(attempt, response)
                log.warning("payment provider attempt %d failed (%s); retrying in %.2fs",
                            attempt, last_error, delay)
                self.sleep(delay)
        assert last_error is not None
        raise last_error

    @staticmethod
    def _parse(response: requests.Response) -> ProviderRefundResult:
        try:
            data = response.json()
            reference = str(data["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PaymentProviderError(
                f"unreadable provider answer: {response.text[:200]!r}", retryable=False,
                status_code=response.status_code,
            ) from exc
        status = data.get("status", "succeeded")
        return ProviderRefundResult(provider_reference=reference,
                                    status="pending" if status == "pending" else "succeeded")


def provider_from_settings(settings: Settings) -> PaymentProvider:
    if settings.payment_provider in ("dry-run", "dry_run", "dryrun"):
        return DryRunPaymentProvider()
    if settings.payment_provider == "http":
        if not settings.payment_api_url:
            raise ValueError("SUPPORTBOT_PAYMENT_PROVIDER=http needs SUPPORTBOT_PAYMENT_API_URL")
        return HttpPaymentProvider(settings.payment_api_url, settings.payment_api_key)
    raise ValueError(
        f"SUPPORTBOT_PAYMENT_PROVIDER must be 'dry-run' or 'http', not {settings.payment_provider!r}"
    )
