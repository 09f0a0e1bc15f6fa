"""Numbered schema migrations of the box database (sqlite-utils `Migrations`).

Never edit an applied migration: add the next number. `apply` runs pending ones and
then `sync.outbox.create_tables` (idempotent: sync owns its tables' schema). The
numbered migrations run inside one `BEGIN IMMEDIATE`, so two processes starting
together do not race.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway.store.db import write_transaction
from sync import outbox

migrations = Migrations("titik-store")


@migrations(name="0001_initial")
def _initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE uploads (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sha256 TEXT UNIQUE,
            tps TEXT NOT NULL,
            source TEXT NOT NULL,
            actor TEXT NOT NULL,
            content_type TEXT,
            size INTEGER,
            replace INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            state TEXT NOT NULL,
            page INTEGER,
            template TEXT,
            status TEXT,
            reasons TEXT,
            officer_confirmed_by TEXT,
            officer_confirmed_at TEXT,
            decided_by TEXT,
            decided_at TEXT,
            decision_reason TEXT,
            superseded_by INTEGER REFERENCES uploads(id)
        )"""
    )
    db.execute("CREATE INDEX uploads_tps_page ON uploads (tps, page)")
    db.execute("CREATE INDEX uploads_state ON uploads (state)")
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            upload_id INTEGER NOT NULL UNIQUE REFERENCES uploads(id),
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            lease_until REAL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            error TEXT
        )"""
    )
    db.execute("CREATE INDEX jobs_state ON jobs (state, id)")
    db.execute(
        """CREATE TABLE readings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            upload_id INTEGER NOT NULL UNIQUE REFERENCES uploads(id),
            created_at TEXT NOT NULL,
            worker TEXT,
            status TEXT NOT NULL,
            template TEXT,
            page INTEGER,
            reading TEXT NOT NULL,
            rectified TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE corrections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            upload_id INTEGER NOT NULL REFERENCES uploads(id),
            field TEXT NOT NULL,
            old_value INTEGER,
            new_value INTEGER,
            source TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT,
            at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX corrections_upload ON corrections (upload_id, id)")
    db.execute(
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            before TEXT,
            after TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE logins (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            login TEXT NOT NULL,
            ok INTEGER NOT NULL,
            ip TEXT,
            at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX logins_login ON logins (login, id)")


@migrations(name="0002_cross_page")
def _cross_page(db: Database) -> None:
    # What the cross-page rules vouched for on a page read alone as needing review
    # (`gateway.store.cross_page`); the machine's reading of the page stays in `readings`.
    db.execute(
        """CREATE TABLE cross_page (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            upload_id INTEGER NOT NULL REFERENCES uploads(id),
            at TEXT NOT NULL,
            vouched TEXT NOT NULL,
            fields TEXT NOT NULL,
            checks TEXT NOT NULL,
            partners TEXT NOT NULL,
            withdrawn_at TEXT
        )"""
    )
    db.execute("CREATE INDEX cross_page_upload ON cross_page (upload_id, id)")


def apply(db: Database) -> None:
    """Bring the schema up to date (idempotent; safe with several processes starting)."""
    conn: sqlite3.Connection = db.conn
    with write_transaction(conn):
        migrations.apply(db)
    outbox.create_tables(db)
