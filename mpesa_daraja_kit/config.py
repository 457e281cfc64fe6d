"""Settings: one frozen object, built in code or from ``MPESA_*`` environment variables.

Every setting is validated when the object is built (at start-up), with an
error that names the setting, its environment variable and what was expected.
Secrets (consumer key/secret, passkey, callback path secret) never appear in
``repr``, logs or error messages.

The full list, with defaults, is in ``docs/configuration.md``; a test keeps
that page and :class:`Settings` in step.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import attrs

from mpesa_daraja_kit.errors import ConfigError

__all__ = [
    "DARAJA_HOSTS",
    "SAFARICOM_CALLBACK_ADDRESSES",
    "SANDBOX_PASSKEY",
    "SANDBOX_SHORT_CODE",
    "C2BResponseType",
    "C2BValidationMode",
    "Environment",
    "Settings",
    "TransactionKind",
    "parse_networks",
]

SANDBOX_SHORT_CODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SIMULATOR_CONSUMER_KEY = "simulator-key"
SIMULATOR_CONSUMER_SECRET = "simulator-secret"  # noqa: S105 - the local simulator's default


class Environment(StrEnum):
    """Which Daraja the kit talks to."""

    SANDBOX = "sandbox"
    PRODUCTION = "production"
    SIMULATOR = "simulator"


DARAJA_HOSTS: Mapping[Environment, str] = {
    Environment.SANDBOX: "https://sandbox.safaricom.co.ke",
    Environment.PRODUCTION: "https://api.safaricom.co.ke",
    Environment.SIMULATOR: "http://127.0.0.1:8089",
}


class TransactionKind(StrEnum):
    """Paybill (``CustomerPayBillOnline``) or till (``CustomerBuyGoodsOnline``)."""

    PAYBILL = "paybill"
    TILL = "till"

    @property
    def daraja_transaction_type(self) -> str:
        """Return the STK ``TransactionType`` value for this kind."""
        return (
            "CustomerPayBillOnline" if self is TransactionKind.PAYBILL else "CustomerBuyGoodsOnline"
        )


class C2BResponseType(StrEnum):
    """What M-Pesa does when the validation URL does not answer in time."""

    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


class C2BValidationMode(StrEnum):
    """How the default ``mpesa_validate_c2b`` answers."""

    KNOWN_ACCOUNT = "known_account"
    ALWAYS_ACCEPT = "always_accept"


def _secret_repr(value: object) -> str:
    return "'***'" if value else "''"


def _setting(default: Any, env: str, doc: str, *, secret: bool = False, **kwargs: Any) -> Any:
    return attrs.field(
        default=default,
        repr=_secret_repr if secret else True,
        metadata={"env": f"MPESA_{env}", "doc": doc, "secret": secret},
        **kwargs,
    )


_DIGITS = re.compile(r"\d{5,7}")
_BANNED_URL_WORDS = ("mpesa", "safaricom", "exec", "cmd", "sql", "query")


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the kit needs to know about its Daraja app and its own behaviour."""

    environment: Environment = _setting(
        Environment.SANDBOX,
        "ENVIRONMENT",
        "`sandbox`, `production` or `simulator`.",
        converter=Environment,
    )
    consumer_key: str = _setting("", "CONSUMER_KEY", "Daraja app consumer key.", secret=True)
    consumer_secret: str = _setting(
        "", "CONSUMER_SECRET", "Daraja app consumer secret.", secret=True
    )
    business_short_code: str = _setting(
        "", "BUSINESS_SHORT_CODE", "Paybill number, or the store number for a till (5–7 digits)."
    )
    passkey: str = _setting("", "PASSKEY", "M-Pesa Express (STK) passkey.", secret=True)
    transaction_kind: TransactionKind = _setting(
        TransactionKind.PAYBILL,
        "TRANSACTION_TYPE",
        "`paybill` or `till`.",
        converter=TransactionKind,
    )
    till_number: str = _setting(
        "", "TILL_NUMBER", "Till number sent as `PartyB` when the transaction type is `till`."
    )
    base_url: str = _setting(
        "",
        "BASE_URL",
        "Overrides the Daraja host of the environment (a simulator, a proxy).",
    )
    callback_base_url: str = _setting(
        "",
        "CALLBACK_BASE_URL",
        "Public base URL of the mounted public app; the three callback URLs are built from it.",
    )
    stk_push_callback_url: str = _setting(
        "",
        "STK_PUSH_CALLBACK_URL",
        "STK callback URL (default: `<callback base>/stk-push/callback`).",
    )
    ipn_confirmation_url: str = _setting(
        "",
        "IPN_CONFIRMATION_URL",
        "C2B confirmation URL (default: `<callback base>/confirmation`).",
    )
    ipn_validation_url: str = _setting(
        "", "IPN_VALIDATION_URL", "C2B validation URL (default: `<callback base>/validation`)."
    )
    callback_path_secret: str = _setting(
        "",
        "CALLBACK_PATH_SECRET",
        "Optional long random path segment required in callback URLs (`…/{secret}/confirmation`).",
        secret=True,
    )
    stk_enabled: bool = _setting(True, "STK_ENABLED", "Allow STK Push initiation.")
    amount_min: Decimal = _setting(
        Decimal(1), "AMOUNT_MIN", "Smallest STK amount in whole KES.", converter=Decimal
    )
    amount_max: Decimal = _setting(
        Decimal(250000), "AMOUNT_MAX", "Largest STK amount in whole KES.", converter=Decimal
    )
    account_reference_max_length: int = _setting(
        12, "ACCOUNT_REFERENCE_MAX_LENGTH", "Longest STK `AccountReference` accepted."
    )
    transaction_desc_max_length: int = _setting(
        13, "TRANSACTION_DESC_MAX_LENGTH", "Longest STK `TransactionDesc` accepted."
    )
    connect_timeout: float = _setting(5.0, "CONNECT_TIMEOUT", "Seconds to connect to Daraja.")
    read_timeout: float = _setting(30.0, "READ_TIMEOUT", "Seconds to wait for Daraja's answer.")
    token_refresh_margin: float = _setting(
        300.0, "TOKEN_REFRESH_MARGIN", "Refresh the OAuth token this many seconds before expiry."
    )
    c2b_register_version: str = _setting(
        "v2",
        "C2B_REGISTER_VERSION",
        "C2B register API version, `v1` or `v2` (match the Daraja app).",
    )
    c2b_response_type: C2BResponseType = _setting(
        C2BResponseType.COMPLETED,
        "C2B_RESPONSE_TYPE",
        "`Completed` or `Cancelled`: what M-Pesa does when validation does not answer.",
        converter=C2BResponseType,
    )
    c2b_validation_mode: C2BValidationMode = _setting(
        C2BValidationMode.KNOWN_ACCOUNT,
        "C2B_VALIDATION_MODE",
        "`known_account` (reject unknown references) or `always_accept`.",
        converter=C2BValidationMode,
    )
    validation_timeout: float = _setting(
        4.0,
        "VALIDATION_TIMEOUT",
        "Seconds the validation hooks may take before the default answer is given (< 8).",
    )
    stk_duplicate_window: float = _setting(
        120.0,
        "STK_DUPLICATE_WINDOW",
        "Seconds during which a phone with a PENDING prompt gets 409 instead of a second prompt.",
    )
    log_pii: bool = _setting(
        False, "LOG_PII", "Allow raw phone numbers and names in logs and events."
    )
    statement_max_bytes: int = _setting(
        50 * 1024 * 1024, "STATEMENT_MAX_BYTES", "Largest statement file accepted."
    )
    # -- event delivery (docs/events.md) ----------------------------------------------
    event_hook_timeout: float = _setting(
        30.0,
        "EVENT_HOOK_TIMEOUT",
        "Seconds one event hook call may take before it is abandoned (a failed attempt).",
    )
    event_max_attempts: int = _setting(
        10,
        "EVENT_MAX_ATTEMPTS",
        "Failed deliveries of an event before it becomes a dead letter (`DEAD`).",
    )
    # -- reconciliation (docs/reconciliation.md) ------------------------------------
    reconcile_enabled: bool = _setting(
        True,
        "RECONCILE_ENABLED",
        "Run the reconciler (STK Push Query for silent prompts, expiry) inside `lifespan()`.",
    )
    reconcile_interval: float = _setting(
        15.0, "RECONCILE_INTERVAL", "Seconds between two reconciler passes."
    )
    reconcile_first_delay: float = _setting(
        40.0,
        "RECONCILE_FIRST_DELAY",
        "Seconds after initiation before a PENDING prompt is first queried (then doubling).",
    )
    reconcile_max_attempts: int = _setting(
        6, "RECONCILE_MAX_ATTEMPTS", "STK Push Query calls per prompt before it is left to expire."
    )
    stk_expiry: float = _setting(
        300.0,
        "STK_EXPIRY",
        "Seconds after initiation when a prompt still PENDING becomes EXPIRED.",
    )
    c2b_urls_registered: bool = _setting(
        False,
        "C2B_URLS_REGISTERED",
        "C2B URLs are registered, so every STK payment should also get a C2B confirmation.",
    )
    missing_ipn_after: float = _setting(
        900.0,
        "MISSING_IPN_AFTER",
        "Seconds after completion before a COMPLETED prompt with no C2B confirmation "
        "fires `mpesa_stk_push_missing_ipn` (only with `c2b_urls_registered`).",
    )
    # -- callback guards and verification (docs/security.md) ------------------------
    callback_allowlist: str = _setting(
        "",
        "CALLBACK_ALLOWLIST",
        "Comma-separated addresses/CIDRs allowed to post callbacks; `safaricom` names the "
        "published Safaricom list, `any` turns the check off. Empty: `safaricom` in "
        "production, off elsewhere.",
    )
    trusted_proxies: str = _setting(
        "",
        "TRUSTED_PROXIES",
        "Comma-separated addresses/CIDRs of your reverse proxies; `X-Forwarded-For` is "
        "honoured only from them.",
    )
    callback_max_bytes: int = _setting(
        64 * 1024, "CALLBACK_MAX_BYTES", "Largest callback body accepted (413 beyond)."
    )
    verify_stk_success: bool = _setting(
        False,
        "VERIFY_STK_SUCCESS",
        "Confirm every successful STK callback with STK Push Query before trusting it.",
    )
    # -- abuse limits on initiation --------------------------------------------------
    stk_rate_phone_limit: int = _setting(
        3,
        "STK_RATE_PHONE_LIMIT",
        "Prompts one phone may receive per phone window (0: no limit).",
    )
    stk_rate_phone_window: float = _setting(
        600.0, "STK_RATE_PHONE_WINDOW", "Seconds of the per-phone prompt limit."
    )
    stk_rate_principal_limit: int = _setting(
        60,
        "STK_RATE_PRINCIPAL_LIMIT",
        "Prompts one principal (`initiated_by`) may start per principal window (0: no limit).",
    )
    stk_rate_principal_window: float = _setting(
        60.0, "STK_RATE_PRINCIPAL_WINDOW", "Seconds of the per-principal prompt limit."
    )

    stk_max_concurrent_initiations: int = _setting(
        10,
        "STK_MAX_CONCURRENT_INITIATIONS",
        "Initiations one worker runs at once (keep it below the database pool size); "
        "beyond it a request waits up to `stk_initiation_wait` and is then refused "
        "`503 overloaded` before anything is sent.",
    )
    stk_initiation_wait: float = _setting(
        2.0,
        "STK_INITIATION_WAIT",
        "Seconds an initiation waits for a free slot before `503 overloaded`.",
    )

    # -- the spool (docs/c2b.md, "When the database is down") --------------------------
    spool_enabled: bool = _setting(
        True,
        "SPOOL_ENABLED",
        "Keep callbacks in a local durable spool while the database is unavailable.",
    )
    spool_dir: str = _setting(
        "",
        "SPOOL_DIR",
        "Spool folder (default: `$XDG_STATE_HOME/mpesa_daraja_kit/spool`, "
        "i.e. `~/.local/state/mpesa_daraja_kit/spool`).",
    )
    spool_replay_interval: float = _setting(
        5.0, "SPOOL_REPLAY_INTERVAL", "Seconds between attempts to replay a non-empty spool."
    )
    callback_sweep_after: float = _setting(
        60.0,
        "CALLBACK_SWEEP_AFTER",
        "Seconds after which a stored callback still `RECEIVED` (its processing was "
        "interrupted) is applied again by the background sweep.",
    )
    callback_sweep_interval: float = _setting(
        15.0, "CALLBACK_SWEEP_INTERVAL", "Seconds between sweeps for interrupted callbacks."
    )

    # -- health and readiness (docs/reliability.md, "Health and readiness") ------------
    health_database_timeout: float = _setting(
        2.0,
        "HEALTH_DATABASE_TIMEOUT",
        "Seconds the readiness probe waits for the database before it answers degraded.",
    )
    health_spool_max_files: int = _setting(
        50, "HEALTH_SPOOL_MAX_FILES", "Spooled callbacks beyond which readiness is degraded."
    )
    health_spool_max_age: float = _setting(
        120.0,
        "HEALTH_SPOOL_MAX_AGE",
        "Seconds the oldest spooled callback may wait before readiness is degraded.",
    )
    health_callback_max_age: float = _setting(
        300.0,
        "HEALTH_CALLBACK_MAX_AGE",
        "Seconds a stored callback may stay `RECEIVED`, `FAILED` or `WAITING` before "
        "readiness is degraded.",
    )
    health_outbox_max_age: float = _setting(
        300.0,
        "HEALTH_OUTBOX_MAX_AGE",
        "Seconds an event may stay `PENDING` before readiness is degraded.",
    )
    health_outbox_max_dead: int = _setting(
        0,
        "HEALTH_OUTBOX_MAX_DEAD",
        "Dead letters (`DEAD` events) beyond which readiness is degraded.",
    )
    health_reconcile_max_age: float = _setting(
        900.0,
        "HEALTH_RECONCILE_MAX_AGE",
        "Seconds since the reconciler's last pass (while it runs) before readiness is degraded.",
    )

    def __attrs_post_init__(self) -> None:
        _validate(self)

    # -- derived values ---------------------------------------------------------------

    @property
    def daraja_base_url(self) -> str:
        """Return the Daraja host to call: ``base_url`` or the environment's host."""
        return (self.base_url or DARAJA_HOSTS[self.environment]).rstrip("/")

    @property
    def party_b(self) -> str:
        """Return the STK ``PartyB``: the short code (paybill) or the till number."""
        if self.transaction_kind is TransactionKind.TILL:
            return self.till_number
        return self.business_short_code

    def _callback(self, explicit: str, suffix: str) -> str:
        if explicit:
            return explicit
        if not self.callback_base_url:
            return ""
        base = self.callback_base_url.rstrip("/")
        if self.callback_path_secret:
            base = f"{base}/{self.callback_path_secret}"
        return f"{base}/{suffix}"

    @property
    def stk_callback_url(self) -> str:
        """Return the STK ``CallBackURL`` (explicit or built from the base)."""
        return self._callback(self.stk_push_callback_url, "stk-push/callback")

    @property
    def confirmation_url(self) -> str:
        """Return the C2B confirmation URL (explicit or built from the base)."""
        return self._callback(self.ipn_confirmation_url, "confirmation")

    @property
    def validation_url(self) -> str:
        """Return the C2B validation URL (explicit or built from the base)."""
        return self._callback(self.ipn_validation_url, "validation")

    # -- construction -----------------------------------------------------------------

    @classmethod
    def for_simulator(cls, **overrides: Any) -> Settings:
        """Return settings that talk to the bundled simulator with its default credentials."""
        values: dict[str, Any] = {
            "environment": Environment.SIMULATOR,
            "consumer_key": SIMULATOR_CONSUMER_KEY,
            "consumer_secret": SIMULATOR_CONSUMER_SECRET,
            "business_short_code": SANDBOX_SHORT_CODE,
            "passkey": SANDBOX_PASSKEY,
        }
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``MPESA_*`` variables (``os.environ`` by default).

        Unset variables keep their defaults; in the ``simulator`` environment the
        credentials default to the simulator's. Keyword ``overrides`` win over
        the environment.

        Raises:
            ConfigError: naming the variable and what was expected.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            var = field.metadata["env"]
            if var in env:
                values[field.name] = _from_text(field, env[var])
        values.update(overrides)
        if str(values.get("environment", "")) == Environment.SIMULATOR.value:
            return cls.for_simulator(**values)
        return cls(**values)


def _describe(field: attrs.Attribute[Any]) -> str:
    return f"{field.name} ({field.metadata['env']})"


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def _from_text(field: attrs.Attribute[Any], text: str) -> Any:
    """Convert one environment value, with an error naming the variable."""
    var = field.metadata["env"]
    secret = field.metadata.get("secret", False)
    shown = "(hidden)" if secret else repr(text)
    raw = text.strip()
    kind = field.type
    try:
        if kind in ("bool", bool):
            if raw.lower() in _BOOL_TRUE:
                return True
            if raw.lower() in _BOOL_FALSE:
                return False
            raise ValueError("expected true/false")
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        if kind in ("Decimal", Decimal):
            return Decimal(raw)
        if field.converter is not None and isinstance(field.converter, type):
            return field.converter(raw)
    except (ValueError, InvalidOperation):
        expected = _expected(field)
        raise ConfigError(f"{var}: expected {expected}, got {shown}") from None
    return raw


def _expected(field: attrs.Attribute[Any]) -> str:
    conv = field.converter
    if isinstance(conv, type) and issubclass(conv, StrEnum):
        return "one of " + ", ".join(repr(m.value) for m in conv)
    return {
        "bool": "true or false",
        "int": "a whole number",
        "float": "a number of seconds",
        "Decimal": "a whole number of shillings",
    }.get(str(field.type), "a value")


def _check(ok: bool, settings_field: str, message: str) -> None:
    if not ok:
        field = attrs.fields_dict(Settings)[settings_field]
        raise ConfigError(f"{_describe(field)}: {message}")


def _validate_url(name: str, url: str, *, production: bool) -> None:
    if not url:
        return
    parts = urlsplit(url)
    _check(
        parts.scheme in ("http", "https") and bool(parts.netloc),
        name,
        "expected an absolute http(s) URL",
    )
    if production:
        _check(parts.scheme == "https", name, "Daraja production requires https")


DARAJA_VARIABLES = (
    "MPESA_CONSUMER_KEY",
    "MPESA_CONSUMER_SECRET",
    "MPESA_PASSKEY",
    "MPESA_BUSINESS_SHORT_CODE",
)
"""The variables every command that calls Daraja needs (outside the simulator environment)."""

_WITHOUT_DARAJA: ContextVar[bool] = ContextVar("mpesa_settings_without_daraja", default=False)


def settings_without_daraja(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings for database-only work: missing Daraja credentials are allowed.

    Calls to Daraja made with such settings still fail (naming the variables).
    """
    token = _WITHOUT_DARAJA.set(True)
    try:
        return Settings.from_env(environ, **overrides)
    finally:
        _WITHOUT_DARAJA.reset(token)


def _validate(s: Settings) -> None:
    production = s.environment is Environment.PRODUCTION
    offline = _WITHOUT_DARAJA.get()
    if s.environment is not Environment.SIMULATOR and not offline:
        for name in ("consumer_key", "consumer_secret", "passkey"):
            _check(bool(getattr(s, name)), name, f"is required for the {s.environment} environment")
    _check(
        bool(_DIGITS.fullmatch(s.business_short_code))
        or ((s.environment is Environment.SIMULATOR or offline) and not s.business_short_code),
        "business_short_code",
        "expected 5 to 7 digits",
    )
    if s.transaction_kind is TransactionKind.TILL:
        _check(bool(_DIGITS.fullmatch(s.till_number)), "till_number", "expected 5 to 7 digits")
    for name in (
        "base_url",
        "callback_base_url",
        "stk_push_callback_url",
        "ipn_confirmation_url",
        "ipn_validation_url",
    ):
        _validate_url(name, getattr(s, name), production=production and name != "base_url")
    if s.callback_path_secret:
        _check(
            len(s.callback_path_secret) >= 16 and "/" not in s.callback_path_secret,
            "callback_path_secret",
            "expected at least 16 characters and no '/'",
        )
    for name in ("amount_min", "amount_max"):
        value: Decimal = getattr(s, name)
        _check(
            value == value.to_integral_value() and 1 <= value <= 250000,
            name,
            "expected a whole number of shillings between 1 and 250000",
        )
    _check(s.amount_min <= s.amount_max, "amount_max", "must not be below amount_min")
    _check(
        1 <= s.account_reference_max_length <= 12,
        "account_reference_max_length",
        "expected 1 to 12 (Daraja's limit)",
    )
    _check(
        1 <= s.transaction_desc_max_length <= 13,
        "transaction_desc_max_length",
        "expected 1 to 13 (Daraja's limit)",
    )
    for name in ("connect_timeout", "read_timeout", "token_refresh_margin"):
        _check(getattr(s, name) > 0, name, "expected a positive number of seconds")
    _check(s.c2b_register_version in ("v1", "v2"), "c2b_register_version", "expected 'v1' or 'v2'")
    _check(
        0 < s.validation_timeout < 8,
        "validation_timeout",
        "expected seconds between 0 and 8 (Daraja waits about 8 s)",
    )
    _check(s.stk_duplicate_window >= 0, "stk_duplicate_window", "expected seconds ≥ 0")
    _check(s.event_hook_timeout > 0, "event_hook_timeout", "expected a positive number of seconds")
    _check(s.event_max_attempts >= 1, "event_max_attempts", "expected a count ≥ 1")
    _check(s.statement_max_bytes > 0, "statement_max_bytes", "expected a positive byte count")
    _check(s.stk_max_concurrent_initiations >= 1, "stk_max_concurrent_initiations", "expected ≥ 1")
    _check(s.stk_initiation_wait >= 0, "stk_initiation_wait", "expected seconds ≥ 0")
    for name in ("spool_replay_interval", "callback_sweep_after", "callback_sweep_interval"):
        _check(getattr(s, name) > 0, name, "expected a positive number of seconds")
    _validate_guards_and_reconciliation(s)
    for name in (
        "health_database_timeout",
        "health_spool_max_age",
        "health_callback_max_age",
        "health_outbox_max_age",
        "health_reconcile_max_age",
    ):
        _check(getattr(s, name) > 0, name, "expected a positive number of seconds")
    for name in ("health_spool_max_files", "health_outbox_max_dead"):
        _check(getattr(s, name) >= 0, name, "expected a count ≥ 0")


def _validate_guards_and_reconciliation(s: Settings) -> None:
    for name in ("reconcile_interval", "reconcile_first_delay", "stk_expiry"):
        _check(getattr(s, name) > 0, name, "expected a positive number of seconds")
    _check(
        s.stk_expiry >= s.reconcile_first_delay,
        "stk_expiry",
        "must not be shorter than reconcile_first_delay",
    )
    _check(s.reconcile_max_attempts >= 0, "reconcile_max_attempts", "expected a count ≥ 0")
    _check(s.missing_ipn_after > 0, "missing_ipn_after", "expected a positive number of seconds")
    for name in ("callback_allowlist", "trusted_proxies"):
        try:
            parse_networks(getattr(s, name), keywords=name == "callback_allowlist")
        except ValueError as exc:
            _check(False, name, f"{exc}; expected comma-separated addresses or CIDR ranges")
    _check(
        1024 <= s.callback_max_bytes <= 10 * 1024 * 1024,
        "callback_max_bytes",
        "expected between 1024 and 10485760 bytes (Daraja's callbacks are about 1 KiB)",
    )
    for name in ("stk_rate_phone_limit", "stk_rate_principal_limit"):
        _check(getattr(s, name) >= 0, name, "expected a count ≥ 0 (0 turns the limit off)")
    for name in ("stk_rate_phone_window", "stk_rate_principal_window"):
        _check(getattr(s, name) > 0, name, "expected a positive number of seconds")
    if s.callback_path_secret:
        # The guard refuses any callback whose path lacks the secret: an explicit URL
        # without it would make every real callback a 403 (and Safaricom does not retry).
        for name in ("stk_push_callback_url", "ipn_confirmation_url", "ipn_validation_url"):
            url = getattr(s, name)
            _check(
                not url or f"/{s.callback_path_secret}/" in urlsplit(url).path,
                name,
                "must contain the callback path secret as a path segment "
                "(or leave it empty to build it from callback_base_url)",
            )


# Commonly published source addresses of Safaricom's callbacks (DARAJA.md, Security and
# delivery; medium confidence): the default allowlist in production.
SAFARICOM_CALLBACK_ADDRESSES: tuple[str, ...] = (
    "196.201.214.200",
    "196.201.214.206",
    "196.201.214.207",
    "196.201.214.208",
    "196.201.213.114",
    "196.201.213.44",
    "196.201.212.127",
    "196.201.212.128",
    "196.201.212.129",
    "196.201.212.132",
    "196.201.212.136",
    "196.201.212.138",
    "196.201.212.74",
    "196.201.212.69",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str, *, keywords: bool = False) -> tuple[Network, ...] | None:
    """Parse comma-separated addresses/CIDRs; None means "any" (only with ``keywords``).

    With ``keywords``, ``safaricom`` expands to :data:`SAFARICOM_CALLBACK_ADDRESSES`
    and ``any`` (alone) switches the check off.

    Raises:
        ValueError: naming the entry that is not an address or a CIDR range.
    """
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if keywords and [e.lower() for e in entries] == ["any"]:
        return None
    networks: list[Network] = []
    for entry in entries:
        if keywords and entry.lower() == "safaricom":
            networks.extend(ipaddress.ip_network(a) for a in SAFARICOM_CALLBACK_ADDRESSES)
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry[:60]!r} is not an address or a CIDR range") from None
    return tuple(networks)


def banned_url_words(url: str) -> list[str]:
    """Return Safaricom's banned words found in ``url`` (any case), in their canonical form."""
    lowered = url.lower()
    return [word for word in _BANNED_URL_WORDS if word in lowered]
