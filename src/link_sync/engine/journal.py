"""The journal: what link-sync uploaded where, and caches of local content hashes and targets.

One SQLite file in the state folder. It only ever saves work: losing it (or
finding it corrupt, or of another schema) costs one slower run that asks the
printers again, so such a file is moved aside with a warning, never a crash.

Rows are keyed by (printer_key, path); the engine chooses both (e.g. a path
lower-cased for a case-insensitive printer) and the journal stores what it is given.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from link_sync.core.model import slot_setters
from link_sync.errors import JournalError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE uploads (
    printer_key    TEXT    NOT NULL,
    path           TEXT    NOT NULL,
    local_size     INTEGER NOT NULL,
    local_mtime_ns INTEGER NOT NULL,
    content_hash   TEXT,
    remote_mtime   REAL,
    remote_size    INTEGER,
    uploaded_at    REAL    NOT NULL,
    PRIMARY KEY (printer_key, path)
) WITHOUT ROWID;
CREATE TABLE local_hashes (
    abspath      TEXT    NOT NULL PRIMARY KEY,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    content_hash TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE local_targets (
    abspath      TEXT    NOT NULL PRIMARY KEY,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    model        TEXT,
    nozzle       REAL,
    source       TEXT    NOT NULL
) WITHOUT ROWID;
"""
#: What each older schema version needs to become the current one (nothing is lost).
_MIGRATIONS = {
    1: _SCHEMA[_SCHEMA.index("CREATE TABLE local_targets") :],
}

_COLUMNS = "path, local_size, local_mtime_ns, content_hash, remote_mtime, remote_size, uploaded_at"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """What link-sync knows about one file it put on (or found identical on) a printer."""

    path: str
    local_size: int
    local_mtime_ns: int
    content_hash: str | None
    remote_mtime: float | None = None  # the printer's m_timestamp seen after the upload
    remote_size: int | None = None
    uploaded_at: float = field(default_factory=time.time)


_J_PATH, _J_SIZE, _J_MTIME, _J_HASH, _J_REMOTE_MTIME, _J_REMOTE_SIZE, _J_AT = slot_setters(
    JournalEntry,
    "path",
    "local_size",
    "local_mtime_ns",
    "content_hash",
    "remote_mtime",
    "remote_size",
    "uploaded_at",
)


def journal_entry(
    path: str,
    local_size: int,
    local_mtime_ns: int,
    content_hash: str | None,
    remote_mtime: float | None,
    remote_size: int | None,
    uploaded_at: float,
) -> JournalEntry:
    """`JournalEntry(...)` from one row (`_COLUMNS`), for reading a printer's records."""
    entry: JournalEntry = object.__new__(JournalEntry)
    _J_PATH(entry, path)
    _J_SIZE(entry, local_size)
    _J_MTIME(entry, local_mtime_ns)
    _J_HASH(entry, content_hash)
    _J_REMOTE_MTIME(entry, remote_mtime)
    _J_REMOTE_SIZE(entry, remote_size)
    _J_AT(entry, uploaded_at)
    return entry


class CachedTarget(NamedTuple):
    """A file's target (link_sync.core.targets.Target) as remembered for its size and mtime."""

    size: int
    mtime_ns: int
    model: str | None
    nozzle: float | None
    source: str


class Journal:
    """An open journal; safe to use from several threads and beside other processes."""

    def __init__(self, path: Path, connection: sqlite3.Connection, warnings: list[str]) -> None:
        self.path = path
        self.warnings = warnings
        self._db: sqlite3.Connection | None = connection
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (or create) the journal at `path`; a bad file is moved aside with a warning."""
        path.parent.mkdir(parents=True, exist_ok=True)
        warnings: list[str] = []
        try:
            connection = _connect(path)
        except _Unusable as exc:
            try:
                aside = _move_aside(path)
            except OSError as move_error:
                raise JournalError(
                    f"the journal {path} {exc} and cannot be moved aside "
                    f"({move_error.strerror}); remove it to start a new one"
                ) from None
            warnings.append(
                f"the journal {path} {exc}; moved it to {aside.name} and started a new one "
                "(this run compares files with the printers instead)"
            )
            connection = _connect(path)
        return cls(path, connection, warnings)

    def close(self) -> None:
        """Close the database; further calls fail. Closing twice is fine."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ uploads

    def entries(self, printer_key: str) -> dict[str, JournalEntry]:
        """Everything recorded for one printer, by path (one query)."""
        with self._using() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM uploads WHERE printer_key = ?", (printer_key,)
            ).fetchall()
        return {row[0]: journal_entry(*row) for row in rows}

    def record(self, printer_key: str, entry: JournalEntry) -> None:
        """Remember one file; durable when this returns."""
        self.record_many(printer_key, (entry,))

    def record_many(self, printer_key: str, entries: Iterable[JournalEntry]) -> None:
        """Remember several files in one transaction."""
        rows = [
            (
                printer_key,
                e.path,
                e.local_size,
                e.local_mtime_ns,
                e.content_hash,
                e.remote_mtime,
                e.remote_size,
                e.uploaded_at,
            )
            for e in entries
        ]
        with self._writing() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO uploads (printer_key, {_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def forget(self, printer_key: str, path: str) -> None:
        """Drop one file's record (it was deleted from the printer)."""
        with self._writing() as db:
            db.execute(
                "DELETE FROM uploads WHERE printer_key = ? AND path = ?", (printer_key, path)
            )

    # ------------------------------------------------------------------ hash cache

    def cached_hash(self, abspath: str | Path, size: int, mtime_ns: int) -> str | None:
        """The content hash remembered for this file, if its size and mtime are unchanged."""
        with self._using() as db:
            row = db.execute(
                "SELECT content_hash FROM local_hashes WHERE abspath = ? AND size = ? "
                "AND mtime_ns = ?",
                (str(abspath), size, mtime_ns),
            ).fetchone()
        return None if row is None else str(row[0])

    def remember_hash(self, abspath: str | Path, size: int, mtime_ns: int, digest: str) -> None:
        """Cache a local file's content hash under its path, size and mtime."""
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO local_hashes (abspath, size, mtime_ns, content_hash) "
                "VALUES (?, ?, ?, ?)",
                (str(abspath), size, mtime_ns, digest),
            )

    # ------------------------------------------------------------------ target cache

    def cached_targets(self) -> dict[str, CachedTarget]:
        """Every remembered file target, by absolute path (one query)."""
        with self._using() as db:
            rows = db.execute(
                "SELECT abspath, size, mtime_ns, model, nozzle, source FROM local_targets"
            ).fetchall()
        return {row[0]: CachedTarget(*row[1:]) for row in rows}

    def remember_targets(self, rows: Iterable[tuple[str, CachedTarget]]) -> None:
        """Cache the targets of local files under their path, size and mtime."""
        values = [(path, *cached) for path, cached in rows]
        if not values:
            return
        with self._writing() as db:
            db.executemany(
                "INSERT OR REPLACE INTO local_targets "
                "(abspath, size, mtime_ns, model, nozzle, source) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise JournalError(f"the journal {self.path} is closed")
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise JournalError(f"the journal {self.path} cannot be used: {exc}") from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed on leaving (so each call is durable on return)."""
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


class _Unusable(Exception):
    """The file is not a journal this version can use; the message says why."""


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a checked journal of SCHEMA_VERSION (created if new)."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False:
    # the engine hashes in worker threads, and Journal._lock serialises every use.
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    except sqlite3.Error as exc:
        raise JournalError(f"the journal {path} cannot be opened: {exc}") from exc
    try:
        _prepare(db)
    except _Unusable:
        db.close()
        raise
    except sqlite3.OperationalError as exc:  # locked, permission, I/O: the file may be fine
        db.close()
        raise JournalError(f"the journal {path} cannot be opened: {exc}") from exc
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", ...
        db.close()
        raise _Unusable(f"is unreadable ({exc})") from exc
    return db


def _prepare(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise _Unusable(f"is damaged ({check})")
    # One statement, so one snapshot: another process may be creating the journal.
    tables, version = db.execute(
        "SELECT (SELECT count(*) FROM sqlite_master), "
        "(SELECT user_version FROM pragma_user_version)"
    ).fetchone()
    if version == 0 and tables == 0:
        _create(db)
    elif version in _MIGRATIONS:
        _migrate(db, version)
    elif version != SCHEMA_VERSION:
        raise _Unusable(f"has schema version {version}, this link-sync uses {SCHEMA_VERSION}")
    # WAL: readers (status, plan) never block the writer. NORMAL sync keeps every
    # commit across a crash of this process; a power cut may cost the last few,
    # which only means comparing those files with the printers again.
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")


def _create(db: sqlite3.Connection) -> None:
    # Another process may have created it while we waited for the write lock.
    _apply(db, _SCHEMA, "SELECT count(*) FROM sqlite_master", 0)


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a journal of an older schema up to date, keeping what it holds."""
    # Another process may have migrated it while we waited for the write lock.
    _apply(db, _MIGRATIONS[version], "PRAGMA user_version", version)


def _apply(db: sqlite3.Connection, script: str, check: str, expected: int) -> None:
    """Run `script` and set the schema version, in one write transaction, if `check`
    still answers `expected` once the write lock is held."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute(check).fetchone()[0] == expected:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _move_aside(path: Path) -> Path:
    """Rename the journal (and its WAL files) to <name>.bad-<time>; return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.bad-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.bad-{stamp}-{counter}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.replace(aside.with_name(aside.name + suffix))
    return aside
