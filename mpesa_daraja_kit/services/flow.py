"""What the money flows (C2B and STK) share: the collaborators ``MpesaKit`` hands them."""

from __future__ import annotations

import pluggy
from sqlalchemy.ext.asyncio import AsyncEngine

from mpesa_daraja_kit.client import AsyncDarajaClient
from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.config import Settings
from mpesa_daraja_kit.services.callbacks import CallbackLogService
from mpesa_daraja_kit.services.ledger import Ledger
from mpesa_daraja_kit.services.outbox import EventOutbox

__all__ = ["Flow"]


class Flow:
    """Hold a flow's collaborators; a flow adds its own parts in :meth:`_setup`."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        pm: pluggy.PluginManager,
        client: AsyncDarajaClient,
        outbox: EventOutbox,
        callbacks: CallbackLogService,
        ledger: Ledger,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._pm = pm
        self._client = client
        self._outbox = outbox
        self._callbacks = callbacks
        self._ledger = ledger
        self._clock = clock
        self._setup()

    def _setup(self) -> None:
        """Build what this flow needs beyond the shared collaborators (nothing by default)."""
