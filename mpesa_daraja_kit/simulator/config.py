"""How the simulator behaves: outcomes, faults, and its own knobs.

An :class:`OutcomeSpec` says what happens to one request (which result the
customer produces and which delivery fault to inject); :class:`SimulatorConfig`
holds everything that is not a Daraja credential (those come from
:class:`~mpesa_daraja_kit.config.Settings`, so a kit and a simulator built from
one environment agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

import attrs

from mpesa_daraja_kit.clock import Clock, utc_now

__all__ = [
    "PHONE_SUFFIX_OUTCOMES",
    "RESULTS",
    "Api",
    "CallbackMode",
    "MsisdnMode",
    "Outcome",
    "OutcomeSpec",
    "RetryPolicy",
    "SimulatorConfig",
    "outcome_for_phone",
]


class Outcome(StrEnum):
    """What the customer's phone does with an STK prompt."""

    SUCCESS = "success"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    EXPIRED = "expired"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    WRONG_PIN = "wrong_pin"
    NOT_PERMITTED = "not_permitted"


# ResultCode and ResultDesc exactly as Daraja sends them (DARAJA.md, STK callback;
# the descriptions are copied from real callbacks in tests/fixtures/daraja).
RESULTS: Mapping[Outcome, tuple[int, str]] = {
    Outcome.SUCCESS: (0, "The service request is processed successfully."),
    Outcome.CANCELLED: (1032, "Request cancelled by user"),
    Outcome.TIMEOUT: (1037, "DS timeout user cannot be reached"),
    Outcome.EXPIRED: (1019, "Transaction has expired"),
    Outcome.INSUFFICIENT_FUNDS: (1, "The balance is insufficient for the transaction."),
    Outcome.WRONG_PIN: (2001, "The initiator information is invalid."),
    Outcome.NOT_PERMITTED: (
        2028,
        "The request is not permitted according to product assignment",
    ),
}


# The outcome rule: a phone number ending in a result code gets that result,
# so any client can pick an outcome without the control endpoint.
PHONE_SUFFIX_OUTCOMES: Mapping[str, Outcome] = {
    "1032": Outcome.CANCELLED,
    "1037": Outcome.TIMEOUT,
    "1019": Outcome.EXPIRED,
    "0001": Outcome.INSUFFICIENT_FUNDS,
    "2001": Outcome.WRONG_PIN,
    "2028": Outcome.NOT_PERMITTED,
}


def outcome_for_phone(phone_number: str) -> Outcome | None:
    """Return the outcome the phone rule assigns to ``phone_number`` (its last 4 digits)."""
    return PHONE_SUFFIX_OUTCOMES.get(phone_number[-4:])


class CallbackMode(StrEnum):
    """How the result callback is delivered (the delivery faults)."""

    NORMAL = "normal"
    NEVER = "never"
    TWICE = "twice"
    BEFORE_RESPONSE = "before_response"


class MsisdnMode(StrEnum):
    """How C2B payloads carry the payer's number (DARAJA.md, C2B ``MSISDN``)."""

    HASHED = "hashed"
    PLAIN = "plain"
    MASKED = "masked"


class Api(StrEnum):
    """Which kind of request a queued outcome applies to."""

    STK = "stk"
    C2B = "c2b"


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be a number of seconds ≥ 0, got {value}")


@attrs.frozen(kw_only=True)
class OutcomeSpec:
    """What happens to one STK push (or C2B simulate), chosen by the outcome rule.

    Attributes:
        outcome: the customer's answer (ignored for C2B, which always succeeds
            unless the validation URL rejects it).
        delay: seconds until the customer answers (the query says "being
            processed" meanwhile); None uses ``SimulatorConfig.callback_delay``.
        callback: the delivery fault for the STK callback (C2B: the confirmation).
        callback_delay: extra seconds between the result and its callback, so a
            query can see a result whose callback is still on its way.
        c2b_confirmation: also post the C2B confirmation of a successful STK
            payment when the short code has URLs registered.
        c2b_first: post that confirmation before the STK callback.
        phone_number: only for queued specs: apply to the next request for this
            number (``2547…``) rather than to the next request at all.
        api: only for queued specs: ``stk`` or ``c2b``.
    """

    outcome: Outcome = attrs.field(default=Outcome.SUCCESS, converter=Outcome)
    delay: float | None = attrs.field(default=None, validator=_non_negative)
    callback: CallbackMode = attrs.field(default=CallbackMode.NORMAL, converter=CallbackMode)
    callback_delay: float = attrs.field(default=0.0, validator=_non_negative)
    c2b_confirmation: bool = True
    c2b_first: bool = False
    phone_number: str | None = None
    api: Api = attrs.field(default=Api.STK, converter=Api)

    @classmethod
    def from_json(cls, data: object) -> OutcomeSpec:
        """Build a spec from the control endpoint's JSON body.

        Raises:
            ValueError: naming the unknown key or the bad value.
        """
        if not isinstance(data, dict):
            raise ValueError('expected a JSON object such as {"outcome": "cancelled"}')
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown keys {unknown}; expected some of {sorted(known)}")
        for key in ("delay", "callback_delay"):
            value = data.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float | Decimal)
            ):
                raise ValueError(f"{key} must be a number of seconds, got {value!r}")
        for key in ("c2b_confirmation", "c2b_first"):
            if key in data and not isinstance(data[key], bool):
                raise ValueError(f"{key} must be true or false, got {data[key]!r}")
        values = dict(data)
        for key in ("delay", "callback_delay"):
            if values.get(key) is not None:
                values[key] = float(values[key])
        if values.get("phone_number") is not None:
            values["phone_number"] = str(values["phone_number"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as JSON-ready values."""
        return {
            field.name: (str(value) if isinstance(value, StrEnum) else value)
            for field in attrs.fields(type(self))
            for value in [getattr(self, field.name)]
        }


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Bounded retries for callback deliveries.

    Daraja's pages say failed deliveries are not retried (DARAJA.md, Security
    and delivery), so the default is one attempt; integrators also report
    duplicates, which ``CallbackMode.TWICE`` reproduces.

    Attributes:
        attempts: total attempts (1 = no retry).
        backoff: seconds before the first retry, doubled after each.
        timeout: seconds each attempt may take (connect + answer).
        retry_on_status: retry when the receiver answers non-2xx (not only on
            connection errors and timeouts).
    """

    attempts: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    backoff: float = attrs.field(default=1.0, validator=_non_negative)
    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    retry_on_status: bool = True


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    """The simulator's own behaviour (credentials come from ``Settings``).

    Attributes:
        token_lifetime: seconds an OAuth token lives (``expires_in``).
        single_token: a new token invalidates the previous ones (Safaricom's
            FAQ says it may).
        msisdn_mode: how C2B payloads show the payer.
        strict_validation: check the short code, the password and the
            timestamp window (off: any credentials pass; field formats are
            always checked, the simulator needs them).
        reject_unknown_fields: refuse request fields Daraja does not define
            (stricter than Daraja; catches clients that send extras).
        banned_words_check: refuse C2B URLs containing Safaricom's banned words.
        allow_plain_http: accept ``http://`` callback URLs on any host (by
            default only ``https`` or ``http`` to localhost).
        timestamp_tolerance: seconds a request ``Timestamp`` may differ from
            Kenyan now (catches UTC and 12-hour-clock timestamps).
        callback_delay: default seconds until the customer answers.
        default_outcome: what happens when neither the queue nor the phone
            rule chooses.
        retry: retry policy for callbacks.
        c2b_validation: call the validation URL before a C2B confirmation
            (off unless Safaricom enables it for the short code).
        validation_deadline: seconds M-Pesa waits for the validation answer.
        allow_reregister: allow registering URLs again (production refuses).
        opening_balance: organisation balance before the first payment.
        customer_names: first, middle and last name shown in C2B payloads.
        clock: the time source (aware UTC), injectable for tests.
        seed: seed for generated ids and receipts (None: random).
    """

    token_lifetime: int = attrs.field(default=3599, validator=attrs.validators.ge(1))
    single_token: bool = False
    msisdn_mode: MsisdnMode = attrs.field(default=MsisdnMode.HASHED, converter=MsisdnMode)
    strict_validation: bool = True
    reject_unknown_fields: bool = False
    banned_words_check: bool = True
    allow_plain_http: bool = False
    timestamp_tolerance: float = attrs.field(default=300.0, validator=_non_negative)
    callback_delay: float = attrs.field(default=1.0, validator=_non_negative)
    default_outcome: Outcome = attrs.field(default=Outcome.SUCCESS, converter=Outcome)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    c2b_validation: bool = False
    validation_deadline: float = attrs.field(default=8.0, validator=attrs.validators.gt(0))
    allow_reregister: bool = True
    opening_balance: Decimal = attrs.field(default=Decimal("10000.00"), converter=Decimal)
    customer_names: tuple[str, str, str] = ("JOHN", "", "DOE")
    clock: Clock = utc_now
    seed: int | None = None
