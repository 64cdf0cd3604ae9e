"""A payment provider that answers from a script: a fake for the gateway's unit tests.

Each call takes the next step scripted for its operation: a value to return, an exception
to raise, or a coroutine function to await (to be slow, or to wait for a signal). It
records every call with its idempotency key.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from mercato.payments.providers.base import (
    CreatePayment,
    ProviderEvent,
    ProviderEventKind,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    RefundStatus,
)

Step = object | BaseException | Callable[[], Awaitable[object]]


def payment(status: ProviderStatus = ProviderStatus.SUCCEEDED) -> ProviderPayment:
    return ProviderPayment(provider_id="pay_1", status=status, amount=1_000, currency="EUR")


def refund() -> ProviderRefund:
    return ProviderRefund(
        provider_id="ref_1",
        payment_provider_id="pay_1",
        status=RefundStatus.SUCCEEDED,
        amount=500,
        currency="EUR",
    )


@dataclass(frozen=True)
class RecordedCall:
    operation: str
    idempotency_key: str | None


@dataclass
class ScriptedProvider:
    name: str = "scripted"
    steps: dict[str, deque[Step]] = field(default_factory=lambda: defaultdict(deque))
    calls: list[RecordedCall] = field(default_factory=list)
    closed: bool = False

    def script(self, operation: str, *steps: Step) -> None:
        self.steps[operation].extend(steps)

    def calls_of(self, operation: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.operation == operation]

    async def _play(self, operation: str, key: str | None) -> object:
        self.calls.append(RecordedCall(operation, key))
        if not self.steps[operation]:
            raise AssertionError(f"no step scripted for {operation}")
        step = self.steps[operation].popleft()
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return await step()
        return step

    async def create_payment(
        self, request: CreatePayment, *, idempotency_key: str
    ) -> ProviderPayment:
        return await self._play("create_payment", idempotency_key)  # type: ignore[return-value]

    async def confirm_payment(
        self,
        provider_id: str,
        *,
        payment_method: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> ProviderPayment:
        return await self._play("confirm_payment", idempotency_key)  # type: ignore[return-value]

    async def capture_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderPayment:
        return await self._play("capture_payment", idempotency_key)  # type: ignore[return-value]

    async def cancel_payment(self, provider_id: str, *, idempotency_key: str) -> ProviderPayment:
        return await self._play("cancel_payment", idempotency_key)  # type: ignore[return-value]

    async def refund_payment(
        self, provider_id: str, *, amount: int, idempotency_key: str
    ) -> ProviderRefund:
        return await self._play("refund_payment", idempotency_key)  # type: ignore[return-value]

    async def retrieve_payment(self, provider_id: str) -> ProviderPayment:
        return await self._play("retrieve_payment", None)  # type: ignore[return-value]

    async def find_payment(self, reference: str) -> ProviderPayment | None:
        return await self._play("find_payment", None)  # type: ignore[return-value]

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: int) -> ProviderEvent:
        return ProviderEvent(
            event_id="evt_1", event_type="test", kind=ProviderEventKind.IGNORED, created=now
        )

    async def aclose(self) -> None:
        self.closed = True
