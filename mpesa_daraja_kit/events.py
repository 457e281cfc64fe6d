"""What the kit tells the host: frozen event objects, and the host's account answer.

Every event carries a stable ``event_id``: delivery through the outbox is
at-least-once, so a host that must not act twice dedupes by that id. Events
never carry raw phone numbers or names unless ``Settings.log_pii`` is on; they
carry the phone's SHA-256 instead, which is what C2B sends anyway.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

__all__ = [
    "EVENT_TYPES",
    "Account",
    "C2BDecision",
    "Event",
    "PaymentLinked",
    "PaymentRecorded",
    "PaymentUnmatched",
    "StatementImported",
    "StkPushMissingIpn",
    "StkPushUpdated",
    "event_from_payload",
    "event_to_json",
    "event_to_payload",
]


@attrs.frozen(kw_only=True)
class Account:
    """The host's account (e.g. a policy) answering ``mpesa_lookup_account``."""

    reference: str
    """The account reference as the host knows it (e.g. the policy's payment account number)."""
    account_id: str | None = None
    """The host's own id for the account, stored on payments and STK requests."""
    display_name: str = ""
    expected_amount: Decimal | None = None
    customer_phone: str | None = None


@attrs.frozen(kw_only=True)
class C2BDecision:
    """An answer to ``mpesa_validate_c2b``: accept, or reject with a ``C2B000xx`` code."""

    accepted: bool
    result_code: str = "0"
    result_desc: str = "Accepted"
    third_party_trans_id: str | None = None

    @classmethod
    def accept(cls, third_party_trans_id: str | None = None) -> C2BDecision:
        """Return an acceptance."""
        return cls(accepted=True, third_party_trans_id=third_party_trans_id)

    @classmethod
    def reject(cls, result_code: str = "C2B00016", result_desc: str = "Rejected") -> C2BDecision:
        """Return a rejection (``C2B00011`` MSISDN … ``C2B00016`` other)."""
        return cls(accepted=False, result_code=result_code, result_desc=result_desc)


def _new_id() -> str:
    return str(uuid.uuid4())


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event: a stable id and when the change happened."""

    hook: ClassVar[str] = ""
    event_id: str = attrs.field(factory=_new_id)
    occurred_at: datetime

    @property
    def dedupe_key(self) -> str:
        """Return the key that makes "the same change twice" one outbox event."""
        raise NotImplementedError(type(self).__name__)


@attrs.frozen(kw_only=True)
class StkPushUpdated(Event):
    """An STK Push request changed status (PENDING → a final status, or EXPIRED → COMPLETED)."""

    hook: ClassVar[str] = "mpesa_stk_push_updated"
    stk_push_request_id: str
    status: str
    previous_status: str
    checkout_request_id: str | None
    account_reference: str
    host_account_id: str | None
    amount: Decimal
    result_code: str | None
    result_desc: str | None
    receipt_number: str | None
    phone_hash: str

    @property
    def dedupe_key(self) -> str:
        """One event per request and status reached."""
        return f"stk_push_updated:{self.stk_push_request_id}:{self.status}"

    @classmethod
    def for_request(
        cls,
        request: Any,
        *,
        occurred_at: datetime,
        status: str,
        previous_status: str,
        result_code: str | None,
        result_desc: str | None,
        receipt_number: str | None,
    ) -> StkPushUpdated:
        """Return the event for an STK request row (anything with its columns) changing status."""
        return cls(
            occurred_at=occurred_at,
            stk_push_request_id=str(request.id),
            status=status,
            previous_status=previous_status,
            checkout_request_id=request.checkout_request_id,
            account_reference=request.account_reference,
            host_account_id=request.host_account_id,
            amount=request.amount,
            result_code=result_code,
            result_desc=result_desc,
            receipt_number=receipt_number,
            phone_hash=request.phone_hash,
        )


@attrs.frozen(kw_only=True)
class PaymentRecorded(Event):
    """Money received was recorded for the first time (from any source)."""

    hook: ClassVar[str] = "mpesa_payment_recorded"
    payment_id: str
    receipt_number: str
    source: str
    amount: Decimal
    account_reference: str | None
    host_account_id: str | None
    transaction_time: datetime
    msisdn_hash: str | None
    stk_push_request_id: str | None = None
    payer_name: str | None = None
    """Only when ``Settings.log_pii`` is on."""

    @property
    def dedupe_key(self) -> str:
        """One event per receipt, whichever source recorded it first."""
        return f"payment_recorded:{self.receipt_number}"


@attrs.frozen(kw_only=True)
class PaymentLinked(Event):
    """A payment and an STK Push request were found to be the same money."""

    hook: ClassVar[str] = "mpesa_payment_linked"
    payment_id: str
    stk_push_request_id: str
    receipt_number: str
    account_reference: str
    host_account_id: str | None
    amount: Decimal
    method: str
    """``receipt`` (MpesaReceiptNumber = TransID) or ``heuristic``."""

    @property
    def dedupe_key(self) -> str:
        """One event per payment and request linked (a corrected link is a new event)."""
        return f"payment_linked:{self.payment_id}:{self.stk_push_request_id}"


@attrs.frozen(kw_only=True)
class PaymentUnmatched(Event):
    """A payment's account reference matched no account of the host."""

    hook: ClassVar[str] = "mpesa_payment_unmatched"
    payment_id: str
    receipt_number: str
    account_reference: str | None
    amount: Decimal
    source: str
    msisdn_hash: str | None = None
    transaction_time: datetime | None = None

    @property
    def dedupe_key(self) -> str:
        """One event per receipt."""
        return f"payment_unmatched:{self.receipt_number}"


@attrs.frozen(kw_only=True)
class StatementImported(Event):
    """A statement upload finished; carries its statistics."""

    hook: ClassVar[str] = "mpesa_statement_imported"
    upload_id: str
    status: str
    total_statement_items: int
    matched_ipn_records: int
    duplicate_statement_records: int
    gaps_filled: int
    failed_items: int

    @property
    def dedupe_key(self) -> str:
        """One event per upload."""
        return f"statement_imported:{self.upload_id}"


@attrs.frozen(kw_only=True)
class StkPushMissingIpn(Event):
    """A COMPLETED STK push has had no C2B confirmation for longer than configured."""

    hook: ClassVar[str] = "mpesa_stk_push_missing_ipn"
    stk_push_request_id: str
    receipt_number: str | None
    account_reference: str
    amount: Decimal
    completed_at: datetime | None

    @property
    def dedupe_key(self) -> str:
        """One event per request (the reconciler's claim fires it once)."""
        return f"stk_push_missing_ipn:{self.stk_push_request_id}"


EVENT_TYPES: Mapping[str, type[Event]] = {
    cls.hook: cls
    for cls in (
        StkPushUpdated,
        PaymentRecorded,
        PaymentLinked,
        PaymentUnmatched,
        StatementImported,
        StkPushMissingIpn,
    )
}


def event_to_payload(event: Event) -> dict[str, Any]:
    """Return ``event`` as JSON-ready data (Decimal and datetime as text)."""
    out: dict[str, Any] = {}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        if value is None or value.__class__ is str:
            out[name] = value  # most values: nothing to convert
        else:
            out[name] = _payload_value(value)
    return out


def event_to_json(event: Event) -> str:
    """Return ``json.dumps(event_to_payload(event))``, the same text, in one pass.

    For bulk writers (a statement batch queues thousands of events): no dict, each
    field converted by :func:`event_to_payload`'s own conversion and written as
    :func:`json.dumps` writes it (text by its C string encoder, anything else by
    ``json.dumps`` itself). A test compares the two for every event type.
    """
    encode = _JSON_WRITERS.get(event.__class__)
    if encode is None:
        encode = _JSON_WRITERS[event.__class__] = _json_writer(event.__class__)
    return encode(event)


_quote = json.encoder.encode_basestring_ascii
"""A JSON string exactly as :func:`json.dumps` writes it (``ensure_ascii``)."""

_JSON_WRITERS: dict[type[Event], Callable[[Event], str]] = {}


def _json_value(value: Any) -> str:
    """Return a field's value (not text) as JSON, after :func:`event_to_payload`'s conversion."""
    if value is None:
        return "null"
    value = _datetime_text(value) if value.__class__ is datetime else _payload_value(value)
    return _quote(value) if value.__class__ is str else json.dumps(value)


def _json_writer(cls: type[Event]) -> Callable[[Event], str]:
    """Return a function writing a ``cls`` event's JSON object, its fields in order.

    Made once per class: a template of the keys, and one expression per field
    (text straight to the string encoder, None as ``null``, anything else to
    :func:`_json_value`).
    Only the field count enters the generated code; the names are in the template.
    """
    names = _field_names(cls)
    template = "{" + ", ".join(_quote(name).replace("%", "%%") + ": %s" for name in names) + "}"
    values = [f"v{i}" for i in range(len(names))]
    body = ", ".join(
        f'q({v}) if {v}.__class__ is str else "null" if {v} is None else j({v})' for v in values
    )
    source = (
        f"def write(event):\n"
        f"    ({', '.join(values)},) = get(event)\n"
        f"    return template % ({body},)\n"
    )
    scope: dict[str, Any] = {
        "get": operator.attrgetter(*names) if len(names) > 1 else lambda e: (getattr(e, names[0]),),
        "template": template,
        "q": _quote,
        "j": _json_value,
    }
    exec(source, scope)  # noqa: S102 - generated from the field count alone
    return scope["write"]  # type: ignore[no-any-return]


_recent: tuple[datetime | None, str] = (None, "")
_older: tuple[datetime | None, str] = (None, "")


def _payload_value(value: Any) -> Any:
    """Return a field's JSON-ready value: Decimal and datetime as text, the rest as is."""
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _datetime_text(value: datetime) -> str:
    """Return ``value.isoformat()``, remembering the two most recent datetimes.

    A batch's events share one ``occurred_at`` between their own transaction
    times: its text is made once. Each entry is replaced whole (thread-safe).
    """
    global _recent, _older
    recent = _recent
    if recent[0] is value:  # the entry holds the object: no other can share its address
        return recent[1]
    older = _older
    if older[0] is value:
        _recent, _older = older, recent
        return older[1]
    text = value.isoformat()
    _recent, _older = (value, text), recent
    return text


_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls))
    return names


def event_from_payload(hook: str, payload: Mapping[str, Any]) -> Event:
    """Rebuild an event from :func:`event_to_payload` data (unknown keys ignored)."""
    cls = EVENT_TYPES[hook]
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name not in payload:
            continue
        value = payload[field.name]
        kind = str(field.type)
        if value is not None and "Decimal" in kind:
            value = Decimal(value)
        elif value is not None and "datetime" in kind:
            value = datetime.fromisoformat(value)
        values[field.name] = value
    return cls(**values)
