"""The host contract: every hook the kit calls, grouped by phase.

Implement hooks on any object (or module) decorated with :data:`hookimpl` and
pass it to ``MpesaKit(plugins=[...])``. An implementation may accept any subset
of a hook's arguments, by name, so hooks only ever gain arguments. A misspelled
implementation (``mpesa_*`` with no spec here) fails at start-up.

Question hooks may be ``async def``. The kit awaits implementations one at a
time, most recently registered first, and stops at the first non-None answer
(pluggy's own ``firstresult`` cannot: an ``async def`` implementation returns a
coroutine, which is never None).

Event hooks receive one frozen event object (see ``mpesa_daraja_kit.events``).
They run after the change has been committed, through the event outbox:
every implementation is called, ``async def`` is awaited, and when one raises
the event is delivered again later (all implementations are called again).
Delivery is therefore **at least once**: dedupe by ``event.event_id``.
Hooks never decide whether a payment is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from mpesa_daraja_kit.events import (
        Account,
        C2BDecision,
        PaymentLinked,
        PaymentRecorded,
        PaymentUnmatched,
        StatementImported,
        StkPushMissingIpn,
        StkPushUpdated,
    )

PROJECT_NAME = "mpesa_daraja_kit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Questions: who is calling, and what is this account?
# -------------------------------------------------------------------------


@hookspec
def mpesa_authenticate(request: Any) -> Any | None:
    """Return the principal making an internal-app request, or None.

    Called for every request to the internal app (initiate, status, statements,
    payments) before anything else. With no implementation at all the internal
    routes refuse every request (503 ``authentication_not_configured``) rather
    than run open; an implementation answering None for every plugin gives 401.

    :param request: the ``starlette.requests.Request``.
    :return: anything identifying the caller (a user id, a user object); its
        ``str()`` is stored as ``initiated_by`` / ``uploaded_by``.

    Stops at first non-None result.
    """


@hookspec
def mpesa_lookup_account(account_reference: str) -> Account | None:
    """Return the host's account for an account reference (e.g. a policy), or None.

    Used by STK initiation (an unknown reference is refused with 404
    ``unknown_account``), by C2B validation, and to tag recorded payments
    (a payment whose reference is unknown fires ``mpesa_payment_unmatched``).

    :param account_reference: the reference trimmed of spaces, as the customer
        typed it (``BillRefNumber``) or the agent entered it. Compare it
        case-insensitively.
    :return: an :class:`~mpesa_daraja_kit.events.Account`, or None when unknown.

    Stops at first non-None result.
    """


@hookspec
def mpesa_validate_c2b(payment: Any, account: Account | None) -> C2BDecision | None:
    """Decide whether M-Pesa should accept a C2B payment (the validation URL).

    Runs only when Safaricom has enabled validation for the short code. It must
    answer quickly: after ``Settings.validation_timeout`` seconds the kit gives
    the default answer instead and logs it. The kit's default implementation
    (registered last) accepts when ``account`` is known and otherwise rejects
    with ``C2B00012`` (invalid account number); with
    ``c2b_validation_mode = always_accept`` it accepts everything.

    :param payment: the parsed validation body (``mpesa_daraja_kit.wire.C2BPayment``).
    :param account: the host's account for its ``BillRefNumber``, or None.
    :return: a :class:`~mpesa_daraja_kit.events.C2BDecision`, or None to let
        the next implementation decide.

    Stops at first non-None result.
    """


# -------------------------------------------------------------------------
# Events: after commit, through the outbox, at least once.
# -------------------------------------------------------------------------


@hookspec
def mpesa_stk_push_updated(event: StkPushUpdated) -> None:
    """React to an STK Push request changing status.

    Fired once per status change: PENDING → COMPLETED / FAILED / CANCELLED /
    EXPIRED, and EXPIRED → COMPLETED when a late success arrives (money moved).
    A duplicate callback fires nothing.
    """


@hookspec
def mpesa_payment_recorded(event: PaymentRecorded) -> None:
    """React to money received being recorded for the first time.

    Fired once per receipt, by whichever source recorded it first
    (``IPN``, ``STK_CALLBACK`` or ``STATEMENT``). Later confirmations of the
    same receipt by other sources fire nothing.
    """


@hookspec
def mpesa_payment_linked(event: PaymentLinked) -> None:
    """React to a payment being linked to the STK Push request it paid.

    Fired once per (payment, request) link, whichever of the two arrived first.
    A heuristic link later corrected by a receipt fires again for the right
    request.
    """


@hookspec
def mpesa_payment_unmatched(event: PaymentUnmatched) -> None:
    """React to a recorded payment whose account reference matches no account."""


@hookspec
def mpesa_statement_imported(event: StatementImported) -> None:
    """React to a statement upload finishing (once per upload, with its statistics)."""


@hookspec
def mpesa_stk_push_missing_ipn(event: StkPushMissingIpn) -> None:
    """React to a COMPLETED STK push that never got its C2B confirmation in time."""
