"""A small insurance back office that embeds mpesa_daraja_kit the way a real host would.

``python -m sample_host`` (or ``./dev sample-host``) starts it on
http://127.0.0.1:8000 with SQLite and the Daraja simulator in-process: open the
page it prints, request a payment for a policy and watch it settle. See
``docs/getting-started.md``.
"""

from __future__ import annotations

from sample_host.app import SampleHost
from sample_host.config import HostConfig

__all__ = ["HostConfig", "SampleHost"]
