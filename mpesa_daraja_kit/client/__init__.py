"""The Daraja client: the only way the kit and host code talk to Safaricom.

:class:`AsyncDarajaClient` and :class:`DarajaClient` are thin async and
blocking shells over one sans-I/O core (:class:`DarajaCore`); OAuth is an
``httpx.Auth`` with a shared, single-flight token (:mod:`.auth`); failures
are the tree in :mod:`.errors`; what is retried is decided in :mod:`.retry`.
See ``docs/client.md``.
"""

from __future__ import annotations

from mpesa_daraja_kit.client.async_client import AsyncDarajaClient
from mpesa_daraja_kit.client.auth import (
    AsyncDarajaAuth,
    CachedToken,
    DarajaAuth,
    InMemoryTokenCache,
    SyncInMemoryTokenCache,
    SyncTokenCache,
    TokenCache,
)
from mpesa_daraja_kit.client.core import PATHS, DarajaCore, StkPushResult
from mpesa_daraja_kit.client.errors import (
    DarajaAPIError,
    DarajaConnectionError,
    DarajaError,
    DarajaErrorKind,
    DarajaInvalidResponse,
    DarajaOperation,
    DarajaOutcomeUnknown,
    DarajaTimeout,
    DarajaTransportError,
    classify_error,
)
from mpesa_daraja_kit.client.retry import RetryPolicy
from mpesa_daraja_kit.client.sync_client import DarajaClient

__all__ = [
    "PATHS",
    "AsyncDarajaAuth",
    "AsyncDarajaClient",
    "CachedToken",
    "DarajaAPIError",
    "DarajaAuth",
    "DarajaClient",
    "DarajaConnectionError",
    "DarajaCore",
    "DarajaError",
    "DarajaErrorKind",
    "DarajaInvalidResponse",
    "DarajaOperation",
    "DarajaOutcomeUnknown",
    "DarajaTimeout",
    "DarajaTransportError",
    "InMemoryTokenCache",
    "RetryPolicy",
    "StkPushResult",
    "SyncInMemoryTokenCache",
    "SyncTokenCache",
    "TokenCache",
    "classify_error",
]
