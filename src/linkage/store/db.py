"""The DuckDB adapter: encrypted at rest, one transaction per run.

DuckDB writes encrypted files only with httpfs loaded (it brings OpenSSL);
the extension comes from the ``duckdb-ext-httpfs`` wheel, never the network.

A write transaction that does not commit (killed, failed, disk full) leaves blocks
DuckDB had already written in the file: free space the file never gives back. A
marker file records a write in progress; the next read-write open finds it and
compacts the database (``vacuum``), as ``linkage vacuum`` does on demand.
"""

from __future__ import annotations

import copy
import errno
import fcntl
import glob
import hashlib
import hmac
import importlib.util
import itertools
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from linkage.digits import whole_number
from linkage.files import pid_alive, private_dir, private_opener
from linkage.errors import ConfigError, LinkageError, StoreError
from linkage.sqltext import literal
from linkage.store.keys import load_or_create_key, secret_path
from linkage.store.schema import DB, STAMP_DDL, all_ddl, t
from linkage.store.version import STORE_VERSION, __version__, check_not_newer

if TYPE_CHECKING:  # frames come in and go out, but pandas/pyarrow cost a CLI process 1 s to import
    import pandas as pd
    import pyarrow as pa

__all__ = ["Store", "create_if_missing", "explain", "failure_line", "open_store", "httpfs_extension_path",
           "table_exists"]

DB_FILE = "linkage.duckdb"
UNCLEAN = "linkage.duckdb.unclean"
_STORES = itertools.count()     # a write transaction is (or was, if it never ended) in progress


def explain(exc: BaseException, path: Path | None = None) -> str | None:
    """One line saying what a DuckDB or OS failure means for the user, or None if unknown."""
    text = str(exc)
    low = text.lower()
    first = " ".join(text.split()) if text else type(exc).__name__
    db = f" ({path})" if path else ""
    if getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in low:
        where = f"holding {path.parent} " if path else ""
        return f"the disk {where}is full: free some space and run again; nothing from this run was saved"
    if "wrong encryption key" in low:
        return f"the database key does not open this database{db}: check LINKAGE_DB_KEY or keys/db.key"
    if "corrupt" in low or "checksum" in low or "aes tag" in low:
        return (f"the database file{db} is corrupt (a damaged block: {first}); restore linkage.duckdb "
                "from your last backup with its key, then re-ingest the extracts since and run `linkage link`")
    if "could not set lock" in low or "conflicting lock" in low:
        # Servers read published snapshots: the holder is a command writing here (or a server starting).
        return ("another linkage command (an ingest, a link run, a review or a publish) is writing to this "
                f"data directory{db}; wait for it to finish, or stop it")
    if "out of memory error" in low:
        return (f"DuckDB needed more memory than it may use ({first}): raise LINKAGE_MEMORY_LIMIT "
                "(LINKAGE_LINK_MEMORY_LIMIT for `linkage link`), or run where there is more")
    if getattr(exc, "errno", None) == errno.EFBIG or "file too large" in low:
        named = getattr(exc, "filename", None) or next(iter(re.findall(r'file "([^"]+)"', text)), None) or path
        return (f"{named} outgrew the largest file this process may write (ulimit -f, or the file "
                "system's limit): raise the limit and run again")
    return None


def failure_line(exc: BaseException, path: Path | None = None) -> str | None:
    """The one line a user is told for an expected failure: linkage's own, DuckDB's or the OS's
    (a full disk, a file not allowed); None for anything else, a fault whose traceback is wanted.
    ``path``: the database the failure may concern."""
    if isinstance(exc, LinkageError):
        return str(exc)
    if not isinstance(exc, (duckdb.Error, OSError)):
        return None
    why = explain(exc, path)
    if not why and isinstance(exc, OSError) and exc.filename and exc.strerror:
        why = f"{exc.filename}: {exc.strerror.lower()}"      # a file the user named: not ``[Errno 2] ...``
    return why or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


CREATE_WAIT_S = 60.0      # far longer than making a database takes (well under a second)


def create_if_missing(home: Path, key: str | None = None, memory_limit: str = "4GB") -> None:
    """A new data directory's database, made by one process though several start on it at once
    (``systemctl start linkage-api@8001 linkage-api@8002`` on a new machine): the others wait the
    moment it takes, then find it made, where one failed on DuckDB's write lock. The wait is on a
    lock file of its own (a process's lock ends with it, so one killed leaves none), held only while
    the database is made: a lock on the data directory itself was any program's that an operator
    ran with ``flock`` on it (a backup), and every start waited for it, then failed."""
    home = private_dir(Path(home))
    fd = os.open(private_dir(home / "tmp") / "create.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + CREATE_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another process has been making the database in {home} for "
                                     f"{CREATE_WAIT_S:.0f} s (it holds {home / 'tmp' / 'create.lock'}): stop it, "
                                     "then start this one again") from None
                time.sleep(0.05)
        if not (home / DB_FILE).exists():
            Store(home, key=key, memory_limit=memory_limit).close()
    finally:
        os.close(fd)        # and with it the lock


def derived_key(db_key: str, purpose: bytes) -> bytes:
    """A key for ``purpose`` derived from the database key: what is signed with it can
    only have been written by someone holding the database key."""
    return hmac.new(db_key.encode(), b"linkage/" + purpose, hashlib.sha256).digest()


def resolve_key(home: Path, key: str | None) -> str:
    return _resolve_key(Path(home), key)


def _resolve_key(home: Path, key: str | None) -> str:
    """The key given, else LINKAGE_DB_KEY (validated), else keys/db.key, made only for a new database."""
    if key:
        return key
    from pydantic import ValidationError

    from linkage.config import get_settings, settings_error

    try:
        configured = get_settings().db_key
    except ValidationError as exc:
        raise ConfigError(settings_error(exc)) from None
    if configured is not None:
        return configured.get_secret_value()
    if (home / DB_FILE).exists() and not secret_path(home, "db.key").exists():
        raise StoreError(
            f"{home / DB_FILE} exists but its key {secret_path(home, 'db.key')} is missing and "
            "LINKAGE_DB_KEY is not set; restore the key file from your backup (a new key would not "
            "open this database, so none is made)")
    return load_or_create_key(home, "db.key")


def httpfs_extension_path() -> str:
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        found = glob.glob(os.path.join(root, "extensions", f"v{duckdb.__version__}", "*",
                                       "httpfs.duckdb_extension"))
        if found:
            return found[0]
    raise StoreError(
        f"the httpfs extension for DuckDB {duckdb.__version__} is not installed; "
        "install the duckdb-ext-httpfs package that matches it"
    )


_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")



def table_exists(con: duckdb.DuckDBPyConnection, database: str, table: str) -> bool:
    """Whether ``database`` (an attached store, ``memory``) holds ``table``: a store written by an
    older version, opened read-only, lacks tables added since."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                            [database, table]).fetchone()[0])


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, /, **relations: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """``relations`` (name -> a pandas frame, Arrow table or DuckDB relation) readable by those
    names in ``con``'s SQL inside the block, and unregistered after it, also on an error: a name
    left registered keeps its frame alive and shadows the next frame given that name."""
    done: list[str] = []
    try:
        for name, data in relations.items():
            con.register(name, data)
            done.append(name)
        yield con
    finally:
        for name in reversed(done):
            con.unregister(name)


class Store:
    """Owns the connection. Splink borrows ``connection`` for its in-memory work."""

    def __init__(self, home: Path, key: str | None = None, memory_limit: str = "4GB",
                 threads: int | None = None, read_only: bool = False, file: Path | None = None) -> None:
        """``file``: a published snapshot to read (read-only) instead of the live database."""
        self.home = Path(home)
        self._file = Path(file) if file else None
        if self._file and not read_only:
            raise StoreError("a published snapshot is opened read-only")
        private_dir(self.home)  # keys, audit log and service state live here
        key = _resolve_key(self.home, key)
        self._key = key
        self._read_only = read_only
        tmp = self._temp_directory()
        self._detached = False
        self._open, self._open_lock = [0], threading.Lock()   # transactions open, here and ``beside``
        self.compacted: tuple[int, int] | None = None   # (bytes before, after) when opening compacted
        self.compact_failed: str | None = None
        self.connection = duckdb.connect(":memory:")
        con = self.connection
        con.execute(f"LOAD {literal(httpfs_extension_path())}")
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
        self._memory_limit = memory_limit
        con.execute(f"SET temp_directory = {literal(tmp.as_posix())}")
        con.execute("SET temp_file_encryption = true")
        con.execute("SET preserve_insertion_order = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        self._attach()
        if read_only:
            check_not_newer(self._what(), self._stamp(), STORE_VERSION)
        else:
            # DuckDB creates its files by the umask; its WAL, recreated after each checkpoint,
            # relies on the process umask (files.py) and on the 0700 data directory.
            for own in (self.home / DB_FILE, self.home / f"{DB_FILE}.wal"):
                if own.exists():
                    os.chmod(own, 0o600)
            self._prepare()
            if (self.home / UNCLEAN).exists():
                try:
                    self.compacted = self.vacuum()
                except StoreError as exc:       # e.g. too little space for the copy: carry on
                    self.compact_failed = str(exc)

    def _what(self) -> str:
        return f"the snapshot {self._file}" if self._file else f"this home's database {self.path}"

    def _stamp(self) -> tuple[int, str] | None:
        """(schema version, linkage version) that last wrote the store; None before the stamps."""
        if not table_exists(self.connection, DB, "schema_version"):
            return None
        return self.connection.execute(f"SELECT version, written_by FROM {t('schema_version')} "
                                       "ORDER BY version DESC LIMIT 1").fetchone()

    def _prepare(self) -> None:
        """Refuse a store a newer linkage wrote; create a new one, or upgrade an older one, in one
        transaction that also stamps it, so a failure leaves it as it was."""
        found = self._stamp()
        check_not_newer(self._what(), found, STORE_VERSION)
        if found is not None and int(found[0]) == STORE_VERSION:
            return
        con = self.connection
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                for ddl in (*all_ddl(), STAMP_DDL):
                    con.execute(ddl)
                con.execute(f"DELETE FROM {t('schema_version')}")
                con.execute(f"INSERT INTO {t('schema_version')} VALUES (?, ?)", [STORE_VERSION, __version__])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except duckdb.Error as exc:
            raise self._store_error(exc) from None

    def _store_error(self, exc: BaseException, path: Path | None = None) -> StoreError:
        path = path or self.path
        why = explain(exc, path)
        return StoreError(why or f"cannot use {path}: {str(exc).splitlines()[0]}")

    def _attach(self) -> None:
        mode = ", READ_ONLY" if self._read_only else ""
        try:
            self.connection.execute(f"ATTACH {literal(self.path.as_posix())} AS {DB} "
                                    f"(ENCRYPTION_KEY {literal(self._key)}{mode})")
        except duckdb.Error as exc:
            raise self._store_error(exc) from None

    def _temp_directory(self) -> Path:
        """This process's own spill directory, with any left by dead processes removed.

        DuckDB refuses to start with encrypted spilling while old spill files exist, so a
        server killed mid-spill (out of memory, SIGKILL) would otherwise never start again.
        Processes sharing the data directory (server workers), and each store in a process, get their own.
        """
        root = private_dir(self.home / "tmp")
        for entry in root.iterdir():
            owner = whole_number(entry.name.split(".")[0])
            if entry.is_dir() and owner is not None and not pid_alive(owner):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and entry.name.startswith("duckdb_temp_"):
                entry.unlink(missing_ok=True)   # left by a version without per-process directories
        # One per store: a server loads next month's snapshot beside the one it serves.
        own = root / f"{os.getpid()}.{next(_STORES)}"
        shutil.rmtree(own, ignore_errors=True)
        own.mkdir(mode=0o700)
        self._tmp = own
        return own

    @property
    def path(self) -> Path:
        return self._file or self.home / DB_FILE

    def mac_key(self, purpose: bytes) -> bytes:
        return derived_key(self._key, purpose)

    def copy_to(self, dest: Path, name: str = "copy_new", empty: Sequence[str] = ()) -> None:
        """Write the live data into a new encrypted file ``dest`` (same key), synced to disk.

        ``COPY FROM DATABASE`` writes only live data. Tables named in ``empty`` are created
        but left without rows (a run's working caches, which readers of a copy never read).
        A failure removes the partial copy.
        """
        con = self.connection

        def fill() -> None:
            if empty:
                con.execute(f"COPY FROM DATABASE {DB} TO {name} (SCHEMA)")
                tables = [r[0] for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary",
                    [DB]).fetchall()]
                for table in tables:
                    if table not in empty:
                        con.execute(f'INSERT INTO {name}."{table}" SELECT * FROM {DB}."{table}"')
            else:
                con.execute(f"COPY FROM DATABASE {DB} TO {name}")
        try:
            self._checkpointed(dest)
            self._filled(dest, name, fill)
        except (duckdb.Error, OSError) as exc:
            self._removed(dest)
            raise self._store_error(exc) from None

    def clone_to(self, dest: Path, name: str = "clone_new", empty: Sequence[str] = ()) -> None:
        """``copy_to``, by copying the checkpointed file's bytes when that gives the same tables
        (the file is already compressed and encrypted under the same key: ``copy_to`` reads every
        row back, decrypting and decompressing it, only to compress and encrypt it again, most
        of a snapshot's cost). Then the tables in ``empty`` are emptied in the copy. A WAL not in
        the file (a store opened read-only after a writer was killed) and a file more than a
        quarter free space (blocks of runs that never committed, which only a rewrite drops) take
        ``copy_to``."""
        if self._file is not None or self._detached:
            return self.copy_to(dest, name, empty)
        con = self.connection

        def fill() -> None:
            there = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                               [name]).fetchall()}
            for table in empty:
                if table in there:
                    con.execute(f'DELETE FROM {name}."{table}"')
        try:
            self._checkpointed(dest)
            total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size() "
                                      "WHERE database_name = ?", [DB]).fetchone()
            wal = self.path.with_name(self.path.name + ".wal")
            if 4 * int(free) > int(total) or (wal.exists() and wal.stat().st_size > 0):
                return self.copy_to(dest, name, empty)
            with open(self.path, "rb") as src, open(dest, "wb", opener=private_opener) as out:
                size, done = os.fstat(src.fileno()).st_size, 0
                while done < size and (sent := os.sendfile(out.fileno(), src.fileno(), done, size - done)):
                    done += sent
            self._filled(dest, name, fill)
        except (duckdb.Error, OSError) as exc:
            self._removed(dest)
            # An OS error here is writing the copy (its own disk, its size limit); DuckDB's name their file.
            raise self._store_error(exc, dest if isinstance(exc, OSError) else None) from None

    def _checkpointed(self, dest: Path) -> None:
        """Before a copy to ``dest``: what a copy that never finished left there removed, and the
        live database checkpointed (a read-only store cannot: its file is as the writer left it)."""
        self._removed(dest)
        if not self._read_only:
            self.connection.execute(f"CHECKPOINT {DB}")

    def _filled(self, dest: Path, name: str, fill: Callable[[], None]) -> None:
        """``dest`` attached as ``name`` while ``fill`` writes it, then checkpointed, private and synced."""
        con = self.connection
        con.execute(f"ATTACH {literal(dest.as_posix())} AS {name} (ENCRYPTION_KEY {literal(self._key)})")
        try:
            fill()
            con.execute(f"CHECKPOINT {name}")
        finally:
            con.execute(f"DETACH {name}")
        os.chmod(dest, 0o600)          # DuckDB creates it by the umask
        with open(dest, "rb") as fh:
            os.fsync(fh.fileno())

    @staticmethod
    def _removed(dest: Path) -> None:
        for leftover in (dest, dest.with_name(dest.name + ".wal")):
            leftover.unlink(missing_ok=True)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.connection.execute(sql, params) if params else self.connection.execute(sql)

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.execute(sql, params).df()

    def insert_df(self, table: str, frame: pd.DataFrame) -> int:
        """Append a frame by column name; the frame's columns must exist in the table."""
        if frame.empty:
            return 0
        name = f"_ins_{id(frame)}"
        with registered(self.connection, **{name: frame}):
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            self.connection.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        return len(frame)

    def insert_arrow(self, table: str, data: pa.Table, **constants: Any) -> int:
        """Append an Arrow table by column name, with ``constants`` in further columns."""
        if data.num_rows == 0:
            return 0
        name = f"_ins_{id(data)}"
        with registered(self.connection, **{name: data}):
            cols = [f'"{c}"' for c in data.column_names]
            names = ", ".join(cols + [f'"{c}"' for c in constants])
            values = ", ".join(cols + ["?"] * len(constants))
            self.connection.execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM {name}",
                                    list(constants.values()))
        return data.num_rows

    def next_id(self, table: str, column: str) -> int:
        return int(self.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))

    @contextmanager
    def memory_limited(self, limit: str | None) -> Iterator[Store]:
        """DuckDB held to ``limit`` (e.g. "2GB") inside the block, spilling to this process's
        encrypted temp directory beyond it; the store's own limit restored after."""
        if not limit:
            yield self
            return
        if not _SIZE.fullmatch(limit):
            raise StoreError(f"not a memory size: {limit!r} (e.g. 2GB)")
        self.connection.execute(f"SET memory_limit = {literal(limit)}")
        try:
            yield self
        finally:
            self.connection.execute(f"SET memory_limit = {literal(self._memory_limit)}")

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All or nothing: a run killed half-way leaves the previous state intact.

        Disk full or a corrupt block inside becomes a one-line StoreError.
        """
        con = self.connection
        marker = self.home / UNCLEAN
        with self._open_lock:        # the marker stays while any transaction is open (``beside``)
            self._open[0] += 1
            marker.write_text(str(os.getpid()))
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield self
                con.execute("COMMIT")
            except BaseException as exc:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                if isinstance(exc, (duckdb.Error, OSError)) and explain(exc, self.path):
                    raise self._store_error(exc) from None
                raise
            with self._open_lock:
                if self._open[0] == 1:
                    marker.unlink(missing_ok=True)
        finally:
            with self._open_lock:
                self._open[0] -= 1

    @contextmanager
    def beside(self) -> Iterator[Store]:
        """This store on a cursor of its own, for a thread working beside the one using this
        store (DuckDB runs a statement without holding the GIL): its own transactions, the same
        database, settings and in-memory tables. The cursor is closed after; never ``close`` it."""
        other = copy.copy(self)
        other.connection = self.connection.cursor()
        try:
            yield other
        finally:
            other.connection.close()

    def vacuum(self) -> tuple[int, int]:
        """Rewrite the database into a fresh encrypted file, and swap it in atomically.

        ``COPY FROM DATABASE`` writes only live data, so blocks left by runs that never
        committed are dropped. The old file stays in place until the new one is complete
        and synced; a failure (disk full) removes the partial copy and keeps the old one.
        Returns (bytes before, bytes after).
        """
        if self._read_only or self._detached:
            raise StoreError("vacuum needs the database open for writing")
        fresh = self.home / f"{DB_FILE}.vacuum"
        before = self.path.stat().st_size
        self.copy_to(fresh, "vacuum_new")
        con = self.connection
        con.execute(f"DETACH {DB}")
        os.replace(fresh, self.path)
        sync_dir(self.home)
        self._attach()
        (self.home / UNCLEAN).unlink(missing_ok=True)
        return before, self.path.stat().st_size

    def checkpoint(self) -> None:
        self.connection.execute(f"CHECKPOINT {DB}")

    def detach(self) -> None:
        """Let go of the database file (and its lock), keeping the in-memory tables."""
        self.connection.execute(f"DETACH {DB}")
        self._detached = True

    def close(self) -> None:
        try:
            if not self._detached:
                self.checkpoint()
        except duckdb.Error:
            pass
        self.connection.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def sync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_store(home: Path, **kwargs: Any) -> Store:
    return Store(home, **kwargs)
