"""Statement import: fill the gaps the API left, count everything else, store nothing twice.

An upload row is created first (file hash, preamble); then the rows are read
in batches. Per batch, **one query** finds which of its receipts are already
recorded (any source), and **one bulk insert** adds the rest with source
``STATEMENT``. Each statement row lands in exactly one bucket, so
``total = matched + duplicates + gaps + failed`` always holds:

- ``matchedIpnRecords``: money received the API already recorded (IPN or STK
  callback) and no statement had confirmed yet — the row is marked confirmed
  by the statement;
- ``duplicateStatementRecords``: a row an earlier statement (or an earlier row
  of this one) already covered;
- ``gapsFilled``: a row stored now (``breakdown`` tells payments from charge
  twins, sweeps and other movements);
- ``failedItems``: a row that could not be read or written, with its row
  number and reason — it never stops the rest.

Uniqueness is the database's: two uploads of one file at once, or an IPN
racing a gap fill, cannot store a receipt twice. A batch whose bulk insert
meets a row stored meanwhile is redone row by row; a batch that hits another
database error is retried once, then its rows are reported failed and the
upload is marked PARTIAL.

Files are read a batch at a time, never all at once, and never blocking the
event loop that answers Safaricom's callbacks: in a worker thread, or (on a
database server, while it writes the previous batch) in the loop a slice at a time.
"""

from mpesa_daraja_kit.services.statements.batches import BATCH_SIZE, MAX_CACHED_ACCOUNTS
from mpesa_daraja_kit.services.statements.rows import MAX_STORED_FAILURES, READ_SLICE, FailedItem
from mpesa_daraja_kit.services.statements.rows import _dashed as _dashed
from mpesa_daraja_kit.services.statements.rows import _take_in_thread as _take_in_thread
from mpesa_daraja_kit.services.statements.service import StatementService, UploadReport

__all__ = [
    "BATCH_SIZE",
    "MAX_CACHED_ACCOUNTS",
    "MAX_STORED_FAILURES",
    "READ_SLICE",
    "FailedItem",
    "StatementService",
    "UploadReport",
]
