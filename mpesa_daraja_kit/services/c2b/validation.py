"""C2B validation (answered in time, whatever the hooks do) and URL registration."""

from __future__ import annotations

import asyncio
from typing import Any

from mpesa_daraja_kit.config import C2BResponseType, C2BValidationMode
from mpesa_daraja_kit.enums import CallbackOutcome
from mpesa_daraja_kit.errors import PayloadError
from mpesa_daraja_kit.events import C2BDecision
from mpesa_daraja_kit.log import bind_correlation_id
from mpesa_daraja_kit.plugins import ask
from mpesa_daraja_kit.services.accounts import lookup_account
from mpesa_daraja_kit.services.c2b.confirmation import C2BConfirmations, log, parse_body
from mpesa_daraja_kit.services.callbacks import IncomingCallback, is_database_unavailable
from mpesa_daraja_kit.wire import (
    C2B_REJECTION_CODES,
    C2BPayment,
    C2BRegisterResponse,
    C2BValidationAnswer,
)


class C2BService(C2BConfirmations):
    """Record C2B confirmations, answer validations and register the C2B URLs."""

    # -- validation -----------------------------------------------------------------

    async def handle_validation(self, incoming: IncomingCallback) -> C2BValidationAnswer:
        """Keep the raw validation body and answer it within ``validation_timeout``.

        Validation bodies never create payments: the money has not moved yet.
        """
        with bind_correlation_id(incoming.correlation_id):
            log_id: int | None
            try:
                log_id = await self._callbacks.store(incoming, spool_on_failure=False)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                # The answer is due within seconds and no money has moved: answer anyway.
                log.error("database unavailable: validation answered without being logged")
                log_id = None
            try:
                payment = parse_body(incoming.body, incoming.content_type)
            except PayloadError as exc:
                answer = self.default_answer()
                log.warning(
                    "C2B validation body could not be read; answered the default",
                    extra={"callback_log_id": log_id, "answer": answer.result_code},
                )
                await self._note(
                    log_id,
                    CallbackOutcome.FAILED,
                    error_code=str(exc.code),
                    error_message=f"{exc.message} (answered {answer.result_code})",
                )
                return answer
            answer, problem = await self.decide(payment)
            note = None
            if problem is not None:
                note = f"{problem}; answered the default {answer.result_code}"
            elif not answer.accepted:
                note = f"rejected {answer.result_code}: {answer.result_desc}"
            await self._note(
                log_id,
                CallbackOutcome.APPLIED,
                reference=payment.trans_id.strip() or None,
                error_code=None if answer.accepted and problem is None else answer.result_code,
                error_message=note,
            )
            return answer

    async def _note(self, log_id: int | None, outcome: CallbackOutcome, **details: Any) -> None:
        """Record what was answered; a failure here never costs Safaricom its answer.

        A row left RECEIVED is closed by the sweep (``callback_interrupted``).
        """
        if log_id is None:
            return
        try:
            await self._callbacks.mark(log_id, outcome, **details)
        except Exception:
            log.warning(
                "validation answered but its outcome not recorded",
                extra={"callback_log_id": log_id},
                exc_info=True,
            )

    def default_answer(self) -> C2BValidationAnswer:
        """Return the answer given when the host cannot answer in time.

        That is what M-Pesa itself would do without an answer
        (``c2b_response_type``: ``Completed`` accepts, ``Cancelled`` rejects),
        and always an acceptance in ``always_accept`` mode.
        """
        s = self._settings
        if (
            s.c2b_validation_mode is C2BValidationMode.ALWAYS_ACCEPT
            or s.c2b_response_type is C2BResponseType.COMPLETED
        ):
            return C2BValidationAnswer.accept()
        return C2BValidationAnswer.reject("C2B00016", "Rejected: the payee could not validate")

    async def decide(self, payment: C2BPayment) -> tuple[C2BValidationAnswer, str | None]:
        """Ask the host's hooks about ``payment``; return the answer and what went wrong, if any."""
        timeout = self._settings.validation_timeout
        try:
            async with asyncio.timeout(timeout):
                account = await lookup_account(self._pm, payment.bill_ref_number)
                decision = await ask(
                    self._pm, "mpesa_validate_c2b", payment=payment, account=account
                )
        except TimeoutError:
            log.warning(
                "C2B validation hooks took longer than %s s; answered the default",
                timeout,
                extra={"receipt_number": payment.trans_id},
            )
            return self.default_answer(), f"hooks took longer than {timeout} s"
        except Exception as exc:
            log.exception(
                "C2B validation hook failed; answered the default",
                extra={"receipt_number": payment.trans_id},
            )
            return self.default_answer(), f"hook failed: {type(exc).__name__}"
        answer = _answer(decision)
        if answer is None:
            log.warning(
                "mpesa_validate_c2b answered %r; expected a C2BDecision", type(decision).__name__
            )
            return self.default_answer(), "hook gave no usable answer"
        return answer, None

    # -- URL registration -------------------------------------------------------------

    async def register_urls(
        self,
        confirmation_url: str | None = None,
        validation_url: str | None = None,
        *,
        response_type: str | None = None,
        version: str | None = None,
    ) -> C2BRegisterResponse:
        """Register the confirmation and validation URLs with Daraja (one-time in production).

        URLs default to the settings (``confirmation_url``/``validation_url``), the
        version to ``c2b_register_version`` and the response type to ``c2b_response_type``.

        Raises:
            ValidationError: a URL contains a word Safaricom refuses (named in the message).
            ConfigError: no URL is configured.
            DarajaError: Daraja refused or could not be reached.
        """
        response = await self._client.register_c2b_urls(
            confirmation_url, validation_url, response_type, version
        )
        log.info(
            "C2B URLs registered",
            extra={
                "short_code": self._settings.business_short_code,
                "response_code": response.response_code,
            },
        )
        return response


def _answer(decision: object) -> C2BValidationAnswer | None:
    """Turn a hook's answer into Daraja's validation answer (None when unusable)."""
    if isinstance(decision, C2BValidationAnswer):
        return decision
    if isinstance(decision, bool):
        return C2BValidationAnswer.accept() if decision else C2BValidationAnswer.reject("C2B00016")
    if isinstance(decision, C2BDecision):
        if decision.accepted:
            return C2BValidationAnswer(
                result_desc=decision.result_desc or "Accepted",
                third_party_trans_id=decision.third_party_trans_id,
            )
        code = decision.result_code
        if code not in C2B_REJECTION_CODES:
            log.warning("rejection code %r is not Daraja's; sent C2B00016 instead", code)
            code = "C2B00016"
        return C2BValidationAnswer.reject(code, decision.result_desc or None)
    return None
