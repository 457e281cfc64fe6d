"""What happens after Daraja has answered: the customer's reply and the callbacks.

An STK prompt stays pending for ``delay`` seconds (the STK query says "being
processed"), then gets its outcome; the STK callback follows, and for a
successful payment to a short code with registered URLs also the C2B
confirmation whose ``TransID`` is the STK receipt (DARAJA.md, C2B). A C2B
payment asks the validation URL first when validation is enabled.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from mpesa_daraja_kit.simulator.checks import C2BSimulateRequest, Registration
from mpesa_daraja_kit.simulator.config import CallbackMode, Outcome, OutcomeSpec, SimulatorConfig
from mpesa_daraja_kit.simulator.delivery import Delivery, DeliveryKind, Dispatcher
from mpesa_daraja_kit.simulator.payloads import (
    IdFactory,
    c2b_body,
    payer_msisdn,
    stk_callback_body,
)
from mpesa_daraja_kit.simulator.state import C2BPayment, C2BStatus, StkTransaction, Store

__all__ = ["Flows"]

_C2B_TRANSACTION_TYPES = {
    "CustomerPayBillOnline": "Pay Bill",
    "CustomerBuyGoodsOnline": "Buy Goods",
}


class Flows:
    """Run prompts and payments to their end and deliver their callbacks."""

    def __init__(
        self, config: SimulatorConfig, store: Store, ids: IdFactory, dispatcher: Dispatcher
    ) -> None:
        self._config = config
        self._store = store
        self._ids = ids
        self._dispatcher = dispatcher

    def _delay(self, spec: OutcomeSpec) -> float:
        return self._config.callback_delay if spec.delay is None else spec.delay

    # -- STK ---------------------------------------------------------------------------

    async def run_stk(self, tx: StkTransaction) -> None:
        """Wait for the simulated customer, then finish the prompt and deliver."""
        delay = self._delay(tx.spec)
        if delay:
            await asyncio.sleep(delay)
        self.finish_stk(tx)
        await self.deliver_stk(tx)

    def finish_stk(self, tx: StkTransaction) -> None:
        """Give the prompt its outcome (and, on success, a receipt and the money)."""
        now = self._config.clock()
        with self._store.lock:
            if tx.outcome is Outcome.SUCCESS:
                tx.receipt_number = self._ids.receipt_number(now)
                tx.org_balance = self._store.credit(self._payee(tx), tx.request.amount)
            tx.finished_at = now

    @staticmethod
    def _payee(tx: StkTransaction) -> str:
        # PartyB receives the money: the paybill, or the till for Buy Goods.
        return tx.request.party_b

    def _registration_for(self, tx: StkTransaction) -> Registration | None:
        with self._store.lock:
            return self._store.registrations.get(
                tx.request.party_b
            ) or self._store.registrations.get(tx.request.short_code)

    async def deliver_stk(self, tx: StkTransaction) -> None:
        """Post the STK callback (per the spec's fault) and the C2B confirmation."""
        spec = tx.spec
        if spec.callback_delay:
            await asyncio.sleep(spec.callback_delay)
        registration = self._registration_for(tx)
        confirm = (
            tx.outcome is Outcome.SUCCESS and spec.c2b_confirmation and registration is not None
        )
        if confirm and spec.c2b_first:
            assert registration is not None
            await self._confirm_stk(tx, registration)
        if spec.callback is not CallbackMode.NEVER:
            body = stk_callback_body(
                merchant_request_id=tx.merchant_request_id,
                checkout_request_id=tx.checkout_request_id,
                outcome=tx.outcome,
                amount=tx.request.amount,
                receipt_number=tx.receipt_number,
                transaction_date=tx.finished_at,
                phone_number=tx.request.phone_number,
            )
            for _ in range(2 if spec.callback is CallbackMode.TWICE else 1):
                await self._dispatcher.post(
                    DeliveryKind.STK_CALLBACK,
                    tx.request.callback_url,
                    body,
                    reference=tx.checkout_request_id,
                )
        if confirm and not spec.c2b_first:
            assert registration is not None
            await self._confirm_stk(tx, registration)

    async def _confirm_stk(self, tx: StkTransaction, registration: Registration) -> None:
        assert tx.receipt_number is not None
        assert tx.finished_at is not None
        paybill = tx.request.transaction_type == "CustomerPayBillOnline"
        payment = C2BPayment(
            trans_id=tx.receipt_number,
            request=C2BSimulateRequest(
                short_code=registration.short_code,
                command_id=tx.request.transaction_type,
                amount=tx.request.amount,
                msisdn=tx.request.phone_number,
                bill_ref_number=tx.request.account_reference if paybill else "",
            ),
            created_at=tx.finished_at,
            status=C2BStatus.COMPLETED,
            from_stk=tx.checkout_request_id,
        )
        with self._store.lock:
            self._store.payments.append(payment)
        await self._post_confirmation(payment, registration, tx.org_balance, times=1)

    # -- C2B ---------------------------------------------------------------------------

    async def run_c2b(self, payment: C2BPayment, spec: OutcomeSpec) -> None:
        """Validate (when enabled) and confirm a customer payment."""
        delay = self._delay(spec)
        if delay:
            await asyncio.sleep(delay)
        with self._store.lock:
            registration = self._store.registrations.get(payment.request.short_code)
        if registration is None:
            # The money moves even when nobody registered URLs; nothing is posted.
            payment.status = C2BStatus.COMPLETED
            self._store.credit(payment.request.short_code, payment.request.amount)
            return
        if self._config.c2b_validation and not await self._validate(payment, registration):
            return
        balance = self._store.credit(payment.request.short_code, payment.request.amount)
        payment.status = C2BStatus.COMPLETED
        if spec.callback_delay:
            await asyncio.sleep(spec.callback_delay)
        if spec.callback is not CallbackMode.NEVER:
            times = 2 if spec.callback is CallbackMode.TWICE else 1
            await self._post_confirmation(payment, registration, balance, times=times)

    async def _validate(self, payment: C2BPayment, registration: Registration) -> bool:
        """Ask the validation URL; return whether the payment goes ahead."""
        body = self._c2b_payload(payment, balance=None)
        delivery = await self._dispatcher.post(
            DeliveryKind.C2B_VALIDATION,
            registration.validation_url,
            body,
            reference=payment.trans_id,
            answer_within=self._config.validation_deadline,
            retry=False,
        )
        verdict = _validation_verdict(delivery)
        payment.validation_result = verdict or "no answer"
        if verdict is None:
            # No usable answer within the deadline: M-Pesa does what ResponseType says.
            accepted = registration.response_type == "Completed"
            payment.status = C2BStatus.COMPLETED if accepted else C2BStatus.CANCELLED
            return accepted
        if verdict != "0":
            payment.status = C2BStatus.REJECTED
            return False
        return True

    def _c2b_payload(self, payment: C2BPayment, *, balance: Decimal | None) -> dict[str, object]:
        request = payment.request
        return c2b_body(
            transaction_type=_C2B_TRANSACTION_TYPES[request.command_id],
            trans_id=payment.trans_id,
            trans_time=payment.created_at,
            amount=request.amount,
            short_code=request.short_code,
            bill_ref_number=request.bill_ref_number,
            org_account_balance=balance,
            msisdn=payer_msisdn(request.msisdn, self._config.msisdn_mode),
            names=self._config.customer_names,
        )

    async def _post_confirmation(
        self,
        payment: C2BPayment,
        registration: Registration,
        balance: Decimal | None,
        *,
        times: int,
    ) -> None:
        body = self._c2b_payload(payment, balance=balance)
        for _ in range(times):
            await self._dispatcher.post(
                DeliveryKind.C2B_CONFIRMATION,
                registration.confirmation_url,
                body,
                reference=payment.trans_id,
            )


def _validation_verdict(delivery: Delivery) -> str | None:
    """Return the validation ``ResultCode`` as text, or None when there was no usable answer."""
    if not delivery.ok:
        return None
    try:
        answer = json.loads(delivery.answer)
    except ValueError:
        return None
    if not isinstance(answer, dict) or "ResultCode" not in answer:
        return None
    code = answer["ResultCode"]
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    return str(code).strip()
