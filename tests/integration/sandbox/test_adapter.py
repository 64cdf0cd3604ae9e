"""The payments service's sandbox adapter against the real sandbox: DTOs and error mapping."""

from __future__ import annotations

import io

import pytest
import structlog

from mercato.payments.providers.base import (
    CaptureMethod,
    CreatePayment,
    ProviderNotReached,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderStatus,
    RefundStatus,
)
from mercato.payments.providers.sandbox import SandboxProvider
from tests.integration.sandbox.conftest import API_KEY, NEW_SECRET, Sandbox
from tests.support.servers import bound_socket


async def test_a_payment_goes_through_its_whole_life(
    provider: SandboxProvider, reference: str
) -> None:
    created = await provider.create_payment(
        CreatePayment(
            amount=2_000,
            currency="EUR",
            reference=reference,
            capture_method=CaptureMethod.MANUAL,
            metadata={"order": "o-9"},
        ),
        idempotency_key=f"create-{reference}",
    )
    assert created.status is ProviderStatus.REQUIRES_PAYMENT_METHOD
    assert (created.amount, created.currency) == (2_000, "EUR")

    held = await provider.confirm_payment(
        created.provider_id,
        payment_method="pm_card_visa",
        return_url=None,
        idempotency_key=f"confirm-{reference}",
    )
    captured = await provider.capture_payment(
        created.provider_id, amount=1_500, idempotency_key=f"capture-{reference}"
    )
    refund = await provider.refund_payment(
        created.provider_id, amount=500, idempotency_key=f"refund-{reference}"
    )
    retrieved = await provider.retrieve_payment(created.provider_id)
    found = await provider.find_payment(reference)

    assert held.status is ProviderStatus.REQUIRES_CAPTURE
    assert held.amount_capturable == 2_000
    assert captured.status is ProviderStatus.SUCCEEDED
    assert captured.amount_captured == 1_500
    assert refund.status is RefundStatus.SUCCEEDED
    assert (refund.amount, refund.currency, refund.payment_provider_id) == (
        500,
        "EUR",
        created.provider_id,
    )
    assert retrieved.amount_refunded == 500
    assert found == retrieved


async def test_a_decline_is_a_payment_with_a_failure_code(
    provider: SandboxProvider, reference: str
) -> None:
    created = await provider.create_payment(
        CreatePayment(amount=100, currency="EUR", reference=reference),
        idempotency_key=f"c-{reference}",
    )

    declined = await provider.confirm_payment(
        created.provider_id,
        payment_method="pm_card_insufficient_funds",
        return_url=None,
        idempotency_key=f"d-{reference}",
    )

    assert declined.status is ProviderStatus.REQUIRES_PAYMENT_METHOD
    assert declined.failure_code == "insufficient_funds"
    assert declined.failure_message


async def test_an_action_payment_carries_its_url(provider: SandboxProvider, reference: str) -> None:
    created = await provider.create_payment(
        CreatePayment(amount=100, currency="EUR", reference=reference),
        idempotency_key=f"c-{reference}",
    )

    pending = await provider.confirm_payment(
        created.provider_id,
        payment_method="pm_card_threeds",
        return_url="https://shop.example/back",
        idempotency_key=f"t-{reference}",
    )
    canceled = await provider.cancel_payment(created.provider_id, idempotency_key=f"x-{reference}")

    assert pending.status is ProviderStatus.REQUIRES_ACTION
    assert pending.action_url is not None
    assert "/v1/actions/" in pending.action_url
    assert canceled.status is ProviderStatus.CANCELED


async def test_an_unknown_reference_finds_nothing(provider: SandboxProvider) -> None:
    assert await provider.find_payment("never-used-reference") is None


@pytest.mark.parametrize("provider_id", ["pi_" + "0" * 24, "../refunds", "pi_x/../../ledger"])
async def test_an_unknown_payment_is_a_404_rejection(
    provider: SandboxProvider, provider_id: str
) -> None:
    with pytest.raises(ProviderRejected) as rejected:
        await provider.retrieve_payment(provider_id)

    assert rejected.value.status == 404
    assert rejected.value.code == "resource_missing"


async def test_a_refused_request_is_a_rejection_with_the_providers_code(
    sandbox: Sandbox, provider: SandboxProvider
) -> None:
    paid = await sandbox.paid_intent(amount=100)

    with pytest.raises(ProviderRejected) as rejected:
        await provider.refund_payment(paid["id"], amount=101, idempotency_key=f"r-{paid['id']}")

    assert (rejected.value.code, rejected.value.status) == ("amount_too_large", 400)


async def test_a_wrong_api_key_is_a_rejection(sandbox: Sandbox) -> None:
    adapter = SandboxProvider(
        base_url=sandbox.base_url,
        api_key="sk_sandbox_wrong_wrong_wrong",
        webhook_secrets=(NEW_SECRET,),
    )
    try:
        with pytest.raises(ProviderRejected) as rejected:
            await adapter.find_payment("x")
    finally:
        await adapter.aclose()

    assert rejected.value.status == 401


async def test_a_closed_port_is_not_reached() -> None:
    sock = bound_socket()  # bound, never listening: connections are refused
    port = sock.getsockname()[1]
    adapter = SandboxProvider(
        base_url=f"http://127.0.0.1:{port}",
        api_key=API_KEY,
        webhook_secrets=(NEW_SECRET,),
        connect_timeout_s=1,
    )
    try:
        with pytest.raises(ProviderNotReached):
            await adapter.retrieve_payment("pi_" + "0" * 24)
    finally:
        await adapter.aclose()
        sock.close()


async def test_a_read_timeout_after_sending_is_an_unknown_outcome(sandbox: Sandbox) -> None:
    intent = await sandbox.create_intent()
    adapter = SandboxProvider(
        base_url=sandbox.base_url,
        api_key=API_KEY,
        webhook_secrets=(NEW_SECRET,),
        read_timeout_s=0.2,
    )
    try:
        with pytest.raises(ProviderOutcomeUnknown):
            await adapter.confirm_payment(
                intent["id"],
                payment_method="pm_card_timeout_after_charge",
                return_url=None,
                idempotency_key=f"slow-{intent['id']}",
            )
    finally:
        await adapter.aclose()


async def test_a_server_error_is_an_unknown_outcome(
    sandbox: Sandbox, provider: SandboxProvider
) -> None:
    intent = await sandbox.create_intent()

    with pytest.raises(ProviderOutcomeUnknown):
        await provider.confirm_payment(
            intent["id"],
            payment_method="pm_card_processing_error",
            return_url=None,
            idempotency_key=f"p-{intent['id']}",
        )


async def test_the_callers_correlation_id_travels_with_the_call(
    provider: SandboxProvider, captured_logs: io.StringIO
) -> None:
    with structlog.contextvars.bound_contextvars(correlation_id="checkout-7f3a"):
        await provider.find_payment("any-reference")

    assert '"request_id":"checkout-7f3a"' in captured_logs.getvalue()
