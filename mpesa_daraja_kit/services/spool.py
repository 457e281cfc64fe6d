"""The callback spool: when the database is down, callbacks wait on local disk, not in the void.

Safaricom does not retry a callback it could not deliver (DARAJA.md, Security and
delivery), so answering 500 while the database is unavailable would lose money
records. Instead the raw callback goes to a local spool — one file per callback,
written to a temporary name, ``fsync``'d, renamed into place and the directory
``fsync``'d, so a crash leaves either the whole file or none — and Safaricom gets
its Accepted. When the database is back the spool is replayed (automatically by
``MpesaKit.lifespan``'s loop, or by ``mpesa-kit callbacks replay-spool``): each
body is stored in the callback log, its file removed, and then applied exactly
as a live callback, so nothing is applied twice.

Several workers may share one spool folder (the default). A worker takes a file
by renaming it into its own claim folder (``.claims/<pid>-<token>/``, atomic on
one file system): the rename succeeds for exactly one worker. Each worker
holds an exclusive ``flock`` on its claim folder's lock file while it lives;
a folder whose lock can be taken belonged to a worker that died (even by
``kill -9``), and its files are moved back for the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy.exc import ProgrammingError

from mpesa_daraja_kit.clock import Clock, utc_now
from mpesa_daraja_kit.enums import CallbackKind, CallbackOutcome
from mpesa_daraja_kit.log import get_logger
from mpesa_daraja_kit.services.background import BackgroundLoop, BackgroundService, every
from mpesa_daraja_kit.services.callbacks import (
    CallbackLogService,
    IncomingCallback,
    is_database_unavailable,
)

__all__ = ["CallbackSpool", "SpoolReplay", "SpoolService", "default_spool_dir"]

log = get_logger("spool")


def default_spool_dir() -> Path:
    """Return the default spool folder: ``$XDG_STATE_HOME/mpesa_daraja_kit/spool``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mpesa_daraja_kit" / "spool"


class CallbackSpool:
    """A folder of spooled callbacks, one durable JSON file each, oldest first."""

    def __init__(self, directory: str | os.PathLike[str], *, clock: Clock = utc_now) -> None:
        self.directory = Path(directory)
        self._clock = clock
        self._claims: Path | None = None
        self._claims_pid = 0
        self._lock_fd: int | None = None

    def append(self, incoming: IncomingCallback) -> Path:
        """Write ``incoming`` durably and return its file."""
        incoming = incoming.with_delivery_id()
        self.directory.mkdir(parents=True, exist_ok=True)
        received = incoming.received_at or self._clock()
        record = {
            "kind": incoming.kind.value,
            "body": base64.b64encode(incoming.body).decode("ascii"),
            "content_type": incoming.content_type,
            "source_address": incoming.source_address,
            "correlation_id": incoming.correlation_id,
            "received_at": received.isoformat(),
            "delivery_id": incoming.delivery_id,
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps(record).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
        _fsync_dir(self.directory)
        return final

    def entries(self) -> list[Path]:
        """Return the spooled files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.entries())

    @staticmethod
    def load(path: Path) -> IncomingCallback:
        """Read one spooled callback back."""
        record: dict[str, Any] = json.loads(path.read_bytes())
        return IncomingCallback(
            kind=CallbackKind(record["kind"]),
            body=base64.b64decode(record["body"]),
            content_type=record.get("content_type"),
            source_address=record.get("source_address"),
            correlation_id=record.get("correlation_id"),
            received_at=datetime.fromisoformat(record["received_at"]),
            delivery_id=record.get("delivery_id"),
        )

    def remove(self, path: Path) -> None:
        """Delete a replayed file (durably)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        _fsync_dir(path.parent)

    def quarantine(self, path: Path) -> Path:
        """Set aside a file that cannot be read (``*.bad``), so it never blocks the rest."""
        target = (self.directory / path.name).with_suffix(".bad")
        os.replace(path, target)
        return target

    # -- claims: several workers, one folder -------------------------------------------

    def claim(self, path: Path) -> Path | None:
        """Move ``path`` into this process's claim folder; None when another worker took it."""
        target = self._claim_dir() / path.name
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        return target

    def release(self, claimed: Path) -> None:
        """Put a claimed file back for a later round (the database is still down)."""
        os.rename(claimed, self.directory / claimed.name)

    def claimed(self) -> list[Path]:
        """Return the files this process holds, oldest first."""
        if self._claims is None or not self._claims.is_dir():
            return []
        return sorted(self._claims.glob("*.json"))

    def recover_abandoned(self) -> int:
        """Move back the files claimed by workers that died; return how many."""
        root = self.directory / ".claims"
        if not root.is_dir():
            return 0
        recovered = 0
        for folder in root.iterdir():
            if folder == self._claims or not folder.is_dir() or folder.name.startswith("."):
                continue
            lock = folder / ".lock"
            try:
                fd = os.open(lock, os.O_RDWR)
            except FileNotFoundError:
                continue  # being created, or already recovered
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its worker is alive
                for file in sorted(folder.glob("*.json")):
                    os.rename(file, self.directory / file.name)
                    recovered += 1
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock)  # another worker may have recovered it meanwhile
                with contextlib.suppress(OSError):
                    folder.rmdir()
            finally:
                os.close(fd)
        if recovered:
            _fsync_dir(self.directory)
        return recovered

    def _claim_dir(self) -> Path:
        if self._claims is None or self._claims_pid != os.getpid() or not self._claims.is_dir():
            root = self.directory / ".claims"
            root.mkdir(parents=True, exist_ok=True)
            name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            # Made and locked under a name recovery ignores, then renamed into place:
            # no other process can take a new folder for a dead worker's.
            building = root / f".{name}"
            building.mkdir()
            fd = os.open(building / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process lives
            folder = root / name
            os.rename(building, folder)
            self._claims, self._claims_pid, self._lock_fd = folder, os.getpid(), fd
        return self._claims


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@attrs.frozen
class SpoolReplay:
    """What one replay of the spool did."""

    stored: int
    remaining: int
    quarantined: int = 0


class SpoolService(BackgroundService):
    """Replay the spool into the database, on demand and in the background."""

    def __init__(
        self,
        spool: CallbackSpool,
        *,
        callbacks: CallbackLogService,
        stk: Any,
        c2b: Any,
        interval: float = 5.0,
    ) -> None:
        self.spool = spool
        self._callbacks = callbacks
        self._stk = stk
        self._c2b = c2b
        self._loop = BackgroundLoop(
            "mpesa-kit-spool", lambda: every(interval, self._replay_when_present, "spool replay")
        )
        self._lock = asyncio.Lock()

    async def replay(self) -> SpoolReplay:
        """Store and apply every spooled callback; stop early while the database is down."""
        stored = quarantined = 0
        async with self._lock:
            await asyncio.to_thread(self.spool.recover_abandoned)
            # Files this worker claimed in an earlier round that ended early come first.
            pending = [
                *await asyncio.to_thread(self.spool.claimed),
                *await asyncio.to_thread(self.spool.entries),
            ]
            for path in pending:
                claimed = (
                    path
                    if path.parent != self.spool.directory
                    else await asyncio.to_thread(self.spool.claim, path)
                )
                if claimed is None:
                    continue  # another worker has it
                try:
                    incoming = await asyncio.to_thread(self.spool.load, claimed)
                except (ValueError, KeyError, OSError):
                    await asyncio.to_thread(self.spool.quarantine, claimed)
                    log.error("unreadable spool file set aside", extra={"file": path.name})
                    quarantined += 1
                    continue
                try:
                    log_id = await self._callbacks.store_once(incoming)
                except Exception as exc:
                    if is_database_unavailable(exc) or isinstance(exc, ProgrammingError):
                        # Still down, or back without the kit's tables (a schema behind,
                        # a migration under way): keep it and try again on the next round.
                        await asyncio.to_thread(self.spool.release, claimed)
                        break
                    # Not an outage: set the file aside (kept on disk, logged) rather
                    # than let it block every callback spooled after it.
                    await asyncio.to_thread(self.spool.quarantine, claimed)
                    log.error(
                        "spooled callback could not be stored; set aside as *.bad",
                        extra={"file": path.name, "error": type(exc).__name__},
                    )
                    quarantined += 1
                    continue
                # The raw body is in the database now: the file has done its job.
                await asyncio.to_thread(self.spool.remove, claimed)
                if log_id is None:
                    continue  # stored before (its commit landed unacknowledged)
                stored += 1
                await self._apply(log_id, incoming)
        remaining = len(await asyncio.to_thread(self.spool.entries))
        if stored or quarantined:
            log.info(
                "spool replayed",
                extra={"stored": stored, "remaining": remaining, "quarantined": quarantined},
            )
        return SpoolReplay(stored, remaining, quarantined)

    async def _apply(self, log_id: int, incoming: IncomingCallback) -> None:
        try:
            if incoming.kind is CallbackKind.STK_CALLBACK:
                await self._stk.apply_callback(log_id, incoming.body)
            elif incoming.kind is CallbackKind.C2B_CONFIRMATION:
                await self._c2b.apply_confirmation(log_id, incoming.body, incoming.content_type)
            else:
                await self._callbacks.mark(
                    log_id,
                    CallbackOutcome.APPLIED,
                    error_message="spooled while the database was unavailable",
                )
        except Exception:
            # Stored but not applied: it stays RECEIVED for `mpesa-kit callbacks replay`.
            log.exception(
                "spooled callback stored but not applied", extra={"callback_log_id": log_id}
            )

    async def _replay_when_present(self) -> None:
        # Also with no file of its own: a dead worker's claims are recovered here.
        if self.spool.directory.is_dir():
            await self.replay()
