"""C2B (paybill and till) payments: confirmations recorded once per receipt, validation in time.

Confirmations are the primary record of money received (docs/architecture.md#purpose). Rules:

- The raw body is committed to the callback log before anything is parsed
  (docs/architecture.md#raw-body-first); a body that cannot be read stays ``FAILED``
  with its reason and is answered Accepted all the same — Safaricom cannot fix
  it, an operator can, and then replays it.
- One row per receipt (``TransID``): the database's unique key decides, so
  fifty copies of one confirmation make one row and one event
  (docs/architecture.md#uniqueness-by-database-constraint). A receipt
  already recorded by an STK callback or a statement is enriched and
  confirmed, never duplicated; its amount and source never change.
- ``MSISDN`` is now usually a SHA-256 hex or a mask (DARAJA.md, C2B): it is
  stored as received, with the hash whenever one can be had, and linking
  compares hashes.
- The host's ``mpesa_lookup_account`` is asked before the write transaction
  opens (a slow host never holds database locks).
- Validation must answer within Daraja's ~8 s: hooks slower than
  ``Settings.validation_timeout`` (or raising) get the default answer — what
  ``c2b_response_type`` says M-Pesa would do without an answer anyway.
"""

from mpesa_daraja_kit.services.c2b.confirmation import Confirmation, parse_body, read_confirmation
from mpesa_daraja_kit.services.c2b.validation import C2BService

__all__ = ["C2BService", "Confirmation", "parse_body", "read_confirmation"]
