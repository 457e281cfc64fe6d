"""A local Daraja that validates like Daraja and fires real callbacks, with fault injection.

Serve :func:`create_simulator_app` (or ``Simulator(...).app``) with any ASGI
server, or run ``mpesa-kit simulator --port 8089``. Drive outcomes by phone
number (``…1032`` cancelled, ``…1037`` timeout, ``…1019`` expired, ``…0001``
insufficient funds, ``…2001`` wrong PIN), through ``POST
/simulator/next-outcome``, or from Python with :meth:`Simulator.queue_outcome`.
See ``docs/simulator.md``.
"""

from __future__ import annotations

from mpesa_daraja_kit.simulator.app import Simulator, create_simulator_app
from mpesa_daraja_kit.simulator.checks import DarajaFault, Registration
from mpesa_daraja_kit.simulator.config import (
    PHONE_SUFFIX_OUTCOMES,
    RESULTS,
    Api,
    CallbackMode,
    MsisdnMode,
    Outcome,
    OutcomeSpec,
    RetryPolicy,
    SimulatorConfig,
    outcome_for_phone,
)
from mpesa_daraja_kit.simulator.delivery import Delivery, DeliveryKind
from mpesa_daraja_kit.simulator.state import C2BPayment, C2BStatus, StkTransaction

__all__ = [
    "PHONE_SUFFIX_OUTCOMES",
    "RESULTS",
    "Api",
    "C2BPayment",
    "C2BStatus",
    "CallbackMode",
    "DarajaFault",
    "Delivery",
    "DeliveryKind",
    "MsisdnMode",
    "Outcome",
    "OutcomeSpec",
    "Registration",
    "RetryPolicy",
    "Simulator",
    "SimulatorConfig",
    "StkTransaction",
    "create_simulator_app",
    "outcome_for_phone",
]
