"""When a failed Daraja call is tried again, and how long to wait first.

Token and STK Query calls are safe to repeat: they retry on connection
errors, timeouts, 5xx answers and spike arrest, with capped exponential
backoff and jitter. An STK push must never be sent twice once it may have
reached Daraja — a second prompt could charge the customer twice
(docs/architecture.md#an-stk-push-is-sent-once) — so it is retried only when the
request certainly never left (a failure to connect); a timeout after sending or a 5xx becomes
:class:`DarajaOutcomeUnknown`. The waiting is injectable (``sleep`` /
``sync_sleep``, or :meth:`RetryPolicy.no_wait`) so tests never sleep.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from enum import Enum

import attrs

from mpesa_daraja_kit.client.errors import (
    DarajaAPIError,
    DarajaErrorKind,
    DarajaInvalidResponse,
    DarajaOperation,
    DarajaTransportError,
)
from mpesa_daraja_kit.errors import DarajaError

__all__ = ["Decision", "RetryPolicy", "decide"]

# Calls that change nothing at Daraja and may be repeated freely.
_REPEATABLE = frozenset({DarajaOperation.TOKEN, DarajaOperation.STK_QUERY})
# Calls that may move money: a lost answer is "outcome unknown", never a silent resend.
_MONEY = frozenset({DarajaOperation.STK_PUSH, DarajaOperation.C2B_SIMULATE})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many times to try a call and how long to wait in between.

    The wait before try ``n + 1`` is ``min(max_delay, base_delay * 2 ** (n - 1))``,
    of which the fraction ``jitter`` is randomised (so workers do not retry
    in step).
    """

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    base_delay: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, eq=False, repr=False
    )
    sync_sleep: Callable[[float], None] = attrs.field(default=time.sleep, eq=False, repr=False)

    @classmethod
    def no_wait(cls, attempts: int = 3) -> RetryPolicy:
        """Return a policy that retries without waiting (for tests)."""
        return cls(attempts=attempts, base_delay=0.0, max_delay=0.0, jitter=0.0)

    @classmethod
    def never(cls) -> RetryPolicy:
        """Return a policy that tries every call once."""
        return cls(attempts=1)

    def delay(self, failed_attempt: int) -> float:
        """Return the seconds to wait after try number ``failed_attempt`` (1-based) failed."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failed_attempt - 1))
        return float(ceiling * (1.0 - self.jitter * self.random()))


class Decision(Enum):
    """What to do with a failed call."""

    RAISE = "raise"
    RETRY = "retry"
    OUTCOME_UNKNOWN = "outcome_unknown"


def _may_have_arrived(error: DarajaError) -> bool:
    if isinstance(error, DarajaTransportError):
        return error.request_sent
    if isinstance(error, DarajaAPIError):
        # A generic 5xx may come after Daraja acted; definitive refusals (spike
        # arrest, subscriber busy, bad credentials) mean it did not.
        return error.classification is DarajaErrorKind.SERVER
    return isinstance(error, DarajaInvalidResponse)


def decide(
    operation: DarajaOperation, error: DarajaError, attempt: int, policy: RetryPolicy
) -> Decision:
    """Decide what follows try number ``attempt`` of ``operation`` failing with ``error``.

    An error that belongs to another operation (the token fetch inside an STK
    push) is raised as it is: that operation already had its own retries and
    this request was never sent.
    """
    if getattr(error, "operation", operation) is not operation:
        return Decision.RAISE
    more = attempt < policy.attempts
    if isinstance(error, DarajaTransportError) and not error.request_sent:
        return Decision.RETRY if more and error.retryable else Decision.RAISE
    if operation in _REPEATABLE:
        transient = (isinstance(error, DarajaTransportError) and error.retryable) or (
            isinstance(error, DarajaAPIError) and error.retryable
        )
        return Decision.RETRY if more and transient else Decision.RAISE
    if operation in _MONEY and _may_have_arrived(error):
        return Decision.OUTCOME_UNKNOWN
    return Decision.RAISE
