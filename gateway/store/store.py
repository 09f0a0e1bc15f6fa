"""`Store`: the box's database and photo files, shared by the web app and the worker.

Every public method is one short transaction. Writes are `BEGIN IMMEDIATE` with
synchronous=FULL, so when a method returns, its change, its audit entry and its
outbox messages are on disk together. One Store may be shared by threads (a lock
serialises its single connection); processes share the database file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway.store import audit as audit_log
from gateway.store import cross_page, decisions, jobs, logins, migrations, uploads, views
from gateway.store.audit import AuditVerification
from gateway.store.context import Tx
from gateway.store.db import DB_NAME, connect, write_transaction
from gateway.store.errors import InvalidInput, NotFound
from gateway.store.jobs import Job
from gateway.store.photos import (
    IncomingPhoto,
    rectified_path,
    remove_stale_incoming,
    store_photo,
    write_durably,
)
from gateway.store.uploads import UploadResult
from sync import outbox

logger = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 100 * 1024 * 1024


class Store:
    def __init__(self, data_dir: Path, *, box_id: str, tps_codes: list[str] | None = None,
                 dpts: Mapping[str, int | None] | None = None):
        self.data_dir = Path(data_dir)
        self.box_id = box_id
        self.tps_codes = list(tps_codes or [])
        # Each TPS's DPT where the box's TPS list gives it: the cross-page rules use it.
        self.dpts = dict(dpts or {})
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_NAME
        self._conn = connect(self.path)
        self.db = Database(self._conn)
        self._lock = threading.RLock()
        migrations.apply(self.db)
        if removed := remove_stale_incoming(self.data_dir, time.time()):
            logger.warning("removed %s half-received upload(s) left by a stopped process",
                           removed)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        with self._lock, write_transaction(self._conn) as conn:
            yield Tx(conn, self.box_id, self.data_dir)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One snapshot for a view that runs several queries.
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    # --- uploads -------------------------------------------------------------------------

    def save_upload(
        self,
        data: bytes,
        *,
        tps: str,
        actor: str,
        source: str,
        replace: bool = False,
        content_type: str | None = None,
    ) -> UploadResult:
        """Keep the photo (file durable first), queue its reading; same photo -> same upload."""
        self._check_upload(len(data), tps)
        sha, _ = store_photo(self.data_dir, data)
        return self._record_upload(sha, len(data), tps=tps, actor=actor, source=source,
                                   replace=replace, content_type=content_type)

    def save_upload_file(
        self,
        photo: IncomingPhoto,
        *,
        tps: str,
        actor: str,
        source: str,
        replace: bool = False,
        content_type: str | None = None,
    ) -> UploadResult:
        """`save_upload` for a body already streamed into the photo folder (the web app's
        uploads): the same checks, fsync and content address, without copying it again."""
        self._check_upload(photo.size, tps)
        sha, _ = photo.keep()
        return self._record_upload(sha, photo.size, tps=tps, actor=actor, source=source,
                                   replace=replace, content_type=content_type)

    def _check_upload(self, size: int, tps: str) -> None:
        if not size:
            raise InvalidInput("Foto kosong / the photo is empty")
        if size > MAX_PHOTO_BYTES:
            raise InvalidInput("Foto terlalu besar / the photo is too large")
        if self.tps_codes and tps not in self.tps_codes:
            raise InvalidInput(f"TPS {tps} tidak terdaftar di kotak ini / TPS {tps} is not on "
                               "this box")

    def _record_upload(
        self, sha: str, size: int, *, tps: str, actor: str, source: str, replace: bool,
        content_type: str | None,
    ) -> UploadResult:
        with self._write() as tx:
            result = uploads.save(tx, sha256=sha, size=size, tps=tps, actor=actor,
                                  source=source, replace=replace, content_type=content_type)
        if result.duplicate:
            logger.info("upload of %s for TPS %s is a duplicate of upload %s",
                        sha[:12], tps, result.upload_id)
        else:
            logger.info("upload %s stored (%s bytes, TPS %s)", result.upload_id, size, tps)
        return result

    def get_upload(self, upload_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            found = uploads.row(conn, upload_id)
            return None if found is None else uploads.describe(conn, self.data_dir, found)

    def photo_bytes(self, upload_id: int) -> bytes:
        upload = self.get_upload(upload_id)
        if upload is None or upload["photo_path"] is None:
            raise NotFound(f"Foto unggahan {upload_id} tidak ada / no photo for {upload_id}")
        return Path(upload["photo_path"]).read_bytes()

    def rectified_bytes(self, upload_id: int) -> bytes | None:
        path = rectified_path(self.data_dir, upload_id)
        return path.read_bytes() if path.exists() else None

    def uploads_for_tps(self, tps: str) -> list[dict[str, Any]]:
        """Newest first."""
        with self._read() as conn:
            return views.listing(conn, self.data_dir, "tps = ?", (tps,), "id DESC")

    # --- the processing queue ------------------------------------------------------------

    def claim_job(
        self, worker: str, lease_s: float, *, max_attempts: int = jobs.MAX_ATTEMPTS
    ) -> Job | None:
        """Lease the next job; one already taken `max_attempts` times goes to a person."""
        with self._write() as tx:
            return jobs.claim(tx, worker, lease_s, max_attempts)

    def finish_job(
        self,
        job_id: int,
        reading_dict: dict[str, Any],
        rectified_jpeg: bytes | None,
        *,
        worker: str = "worker",
    ) -> bool:
        """Record a reading; False when this job was already finished (nothing written)."""
        with self._read() as conn:
            found = conn.execute(
                "SELECT upload_id, state FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        if found is None or found["state"] != "running":
            return False
        if rectified_jpeg is not None:
            # Durable before the row that points at it commits.
            write_durably(rectified_path(self.data_dir, found["upload_id"]), rectified_jpeg)
        with self._write() as tx:
            done = jobs.finish(tx, job_id, reading_dict, rectified_jpeg is not None, worker)
            if done:
                self._cross_page(tx, found["upload_id"])
            return done

    def fail_job(self, job_id: int, error: str, *, worker: str = "worker") -> bool:
        with self._write() as tx:
            return jobs.fail(tx, job_id, error, worker)

    def release_job(self, job_id: int) -> bool:
        """Put a claimed job back in the queue as if it had not been taken."""
        with self._write() as tx:
            return jobs.release(tx, job_id)

    def job_counts(self) -> dict[str, int]:
        with self._read() as conn:
            return jobs.counts(conn)

    # --- people's decisions --------------------------------------------------------------

    def confirm(
        self, upload_id: int, *, actor: str, corrections: dict[str, int] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        with self._write() as tx:
            out = decisions.confirm(tx, upload_id, actor=actor, corrections=corrections or {},
                                    reason=reason)
            self._cross_page(tx, upload_id)
            return out

    def review(
        self, upload_id: int, *, actor: str, approve: bool,
        corrections: dict[str, int] | None = None, reason: str,
    ) -> dict[str, Any]:
        with self._write() as tx:
            out = decisions.review(tx, upload_id, actor=actor, approve=approve,
                                   corrections=corrections or {}, reason=reason)
            self._cross_page(tx, upload_id)
            return out

    def discard(self, upload_id: int, *, actor: str, reason: str) -> None:
        with self._write() as tx:
            decisions.discard(tx, upload_id, actor=actor, reason=reason)
            self._cross_page(tx, upload_id)

    def manual_entry(
        self, *, tps: str, page: int, values: dict[str, int], actor: str, reason: str,
        upload_id: int | None = None,
    ) -> dict[str, Any]:
        if self.tps_codes and tps not in self.tps_codes:
            raise InvalidInput(f"TPS {tps} tidak terdaftar di kotak ini / TPS {tps} is not on "
                               "this box")
        with self._write() as tx:
            out = decisions.manual_entry(tx, tps=tps, page=page, values=values, actor=actor,
                                         reason=reason, upload_id=upload_id)
            cross_page.vouch(tx, tps, self.dpts.get(tps))
            return out

    def _cross_page(self, tx: Tx, upload_id: int) -> None:
        """After a change to one page: what the cross-page rules now say of its TPS."""
        row = uploads.row(tx.conn, upload_id)
        if row is not None:
            cross_page.vouch(tx, row["tps"], self.dpts.get(row["tps"]))

    # --- views ---------------------------------------------------------------------------

    def page_states(self, tps: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            return views.page_states(conn, tps, outbox.page_states(conn))

    def kecamatan_overview(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return views.overview(conn, self.tps_codes, outbox.page_states(conn))

    def review_queue(self) -> list[dict[str, Any]]:
        """Oldest first: what the PPK must look at."""
        with self._read() as conn:
            return views.listing(conn, self.data_dir, "state = ?", (uploads.NEEDS_REVIEW,))

    def rejected_uploads(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return views.listing(conn, self.data_dir, "state = ?", (uploads.REJECTED,))

    def export_results(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return views.export_results(conn)

    def tps_checks(self, tps: str, dpt: int | None) -> list[dict[str, Any]]:
        """Cross-page rules once all three pages are final; [] before that."""
        with self._read() as conn:
            pages = views.final_values(conn, tps)
        if len(pages) < len(views.PAGES):
            return []
        import vision

        return [check.to_dict() for check in vision.check_tps(pages, dpt=dpt)]

    # --- audit and sign-in ---------------------------------------------------------------

    def audit(
        self, actor: str, action: str, subject: str, before: Any = None, after: Any = None
    ) -> int:
        """Record an action done outside the store (logout, account change, ...)."""
        with self._write() as tx:
            return tx.audit(actor, action, subject, before, after)

    def verify_audit(self) -> AuditVerification:
        with self._read() as conn:
            return audit_log.verify_chain(conn)

    def audit_entries(self, *, limit: int = 200, subject: str | None = None) -> list[
        dict[str, Any]
    ]:
        with self._read() as conn:
            return audit_log.entries(conn, limit=limit, subject=subject)

    def record_login(self, login: str, ok: bool, ip: str | None = None) -> None:
        """Remember a sign-in attempt; writes the audit entry too (do not audit it again)."""
        with self._write() as tx:
            logins.record(tx, login, ok, ip)

    def login_locked(self, login: str) -> float:
        """Seconds until `login` may try again (0 when not locked)."""
        with self._read() as conn:
            return logins.locked_for(conn, login)
