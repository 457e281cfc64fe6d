"""STK Push (M-Pesa Express): initiate a prompt, settle it from its callback, read it.

Rules (docs/architecture.md#data-rules, DARAJA.md):

- The request is stored PENDING *before* Daraja is called, then Daraja's own
  ``MerchantRequestID`` and ``CheckoutRequestID`` are stored.
- A push that may have reached Daraja (timeout after sending, 5xx) is never
  sent again: the request stays PENDING, marked ``outcome_unknown``, for
  reconciliation.
- A final status is never overwritten by a later, weaker signal; a late
  success still wins over EXPIRED (money moved). The database decides with
  a conditional update, so twenty copies of one callback change one row once.
- A callback can beat the initiate response: it is kept WAITING and applied
  as soon as the request's CheckoutRequestID is stored.
"""

from mpesa_daraja_kit.services.stk.base import UNVERIFIED, InitiateResult, Settlement
from mpesa_daraja_kit.services.stk.initiate import StkService
from mpesa_daraja_kit.services.views import StkPushView

__all__ = ["UNVERIFIED", "InitiateResult", "Settlement", "StkPushView", "StkService"]
