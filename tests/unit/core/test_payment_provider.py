"""The payment providers: the dry run records; the HTTP one retries only what is safe."""
from __future__ import annotations

import socket
import threading

import pytest
import requests
from core_http_stub import StubServer

from supportbot.core.payment_provider import (
    DryRunPaymentProvider,
    HttpPaymentProvider,
    PaymentProviderError,
    ProviderRefundRequest,
    provider_from_settings,
)
from supportbot.settings import Settings

REQUEST = ProviderRefundRequest(idempotency_key="refund-100000001-4900-EUR",
                                order_reference="100000001", amount_minor=4900, currency="EUR",
                                payment_method="credit_card", charge_reference="ch_1",
                                reason="no_longer_needed")


def test_dry_run_records_every_call_and_is_idempotent_per_key():
    provider = DryRunPaymentProvider()
    first = provider.refund(REQUEST)
    again = provider.refund(REQUEST)
    other = provider.refund(ProviderRefundRequest(**{**REQUEST.__dict__, "idempotency_key": "k2"}))
    assert first == again and first.status == "succeeded"
    assert other.provider_reference != first.provider_reference
    assert [c.idempotency_key for c in provider.refund_calls()] == [
        "refund-100000001-4900-EUR", "refund-100000001-4900-EUR", "k2"]


def test_dry_run_is_thread_safe():
    provider = DryRunPaymentProvider()
    threads = [threading.Thread(target=provider.refund, args=(REQUEST,)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(provider.calls) == 20


def _http(url, **kwargs):
    sleeps = []
    provider = HttpPaymentProvider(url, "api-key-1", connect_timeout=1, read_timeout=1,
                                   sleep=sleeps.append, **kwargs)
    return provider, sleeps


def test_http_success_sends_body_key_and_auth():
    with StubServer([(201, {"id": "re_123", "status": "succeeded"})]) as server:
        provider, _ = _http(server.url)
        result = provider.refund(REQUEST)
    assert result.provider_reference == "re_123" and result.status == "succeeded"
    [request] = server.requests
    assert request["path"] == "/refunds"
    assert request["headers"]["Idempotency-Key"] == "refund-100000001-4900-EUR"
    assert request["headers"]["Authorization"] == "Bearer api-key-1"
    assert request["json"] == {"order_reference": "100000001", "amount_minor": 4900,
                               "currency": "EUR", "payment_method": "credit_card",
                               "charge_reference": "ch_1", "reason": "no_longer_needed"}


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_http_retries_safe_errors_with_the_same_idempotency_key(status):
    with StubServer([(status, {"error": "busy"}), (status, {"error": "busy"}),
                     (200, {"id": "re_9", "status": "pending"})]) as server:
        provider, sleeps = _http(server.url, backoff_seconds=0.1)
        result = provider.refund(REQUEST)
    assert result.provider_reference == "re_9" and result.status == "pending"
    assert len(server.requests) == 3
    assert {r["headers"]["Idempotency-Key"] for r in server.requests} == {REQUEST.idempotency_key}
    assert sleeps == [0.1, 0.2]  # exponential backoff


def test_http_honours_retry_after_on_429():
    with StubServer([(429, {}, {"Retry-After": "3"}), (200, {"id": "re_1"})]) as server:
        provider, sleeps = _http(server.url)
        provider.refund(REQUEST)
    assert sleeps == [3.0]


@pytest.mark.parametrize("status", [400, 401, 402, 404, 409, 422, 500])
def test_http_does_not_retry_other_errors(status):
    with StubServer([(status, {"error": "no"})]) as server:
        provider, sleeps = _http(server.url)
        with pytest.raises(PaymentProviderError) as info:
            provider.refund(REQUEST)
    assert len(server.requests) == 1 and sleeps == []
    assert info.value.status_code == status and info.value.retryable is False


def test_http_gives_up_after_max_attempts():
    with StubServer([(503, {})]) as server:
        provider, sleeps = _http(server.url, max_attempts=3)
        with pytest.raises(PaymentProviderError) as info:
            provider.refund(REQUEST)
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert info.value.retryable is True


def test_http_retries_connection_errors():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider, sleeps = _http(f"http://127.0.0.1:{port}", max_attempts=3)
    with pytest.raises(PaymentProviderError) as info:
        provider.refund(REQUEST)
    assert len(sleeps) == 2 and info.value.retryable is True


def test_http_read_timeout_is_retried_then_succeeds():
    with StubServer([(200, {"id": "slow"}, None, 0.6), (200, {"id": "re_fast"})]) as server:
        provider = HttpPaymentProvider(server.url, connect_timeout=1, read_timeout=0.2,
                                       sleep=lambda s: None)
        result = provider.refund(REQUEST)
    assert result.provider_reference == "re_fast"
    assert len(server.requests) == 2


def test_http_unreadable_answer_is_an_error():
    with StubServer([(200, {"unexpected": True})]) as server:
        provider, _ = _http(server.url)
        with pytest.raises(PaymentProviderError):
            provider.refund(REQUEST)


def test_provider_from_settings(tmp_path):
    base = Settings(var_dir=tmp_path, database_url="sqlite://")
    assert isinstance(provider_from_settings(base), DryRunPaymentProvider)
    http = provider_from_settings(Settings(var_dir=tmp_path, database_url="sqlite://",
                                           payment_provider="http",
                                           payment_api_url="https://pay.example/api/"))
    assert isinstance(http, HttpPaymentProvider) and http.base_url == "https://pay.example/api"
    with pytest.raises(ValueError):
        provider_from_settings(Settings(var_dir=tmp_path, database_url="sqlite://",
                                        payment_provider="http"))
    with pytest.raises(ValueError):
        provider_from_settings(Settings(var_dir=tmp_path, database_url="sqlite://",
                                        payment_provider="real-money"))


def test_requests_is_the_http_client():
    provider, _ = _http("http://127.0.0.1:9")
    assert isinstance(provider.session, requests.Session)
