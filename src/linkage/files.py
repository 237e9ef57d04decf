"""Private files and directories in the data directory: 0600 and 0700 whatever the umask.

The data directory holds keys, the encrypted database, service state and the audit log:
nothing in it is for other local users. Two layers: every process entry point (the CLI, the
uvicorn factory) sets a 0o077 umask, which also covers files that libraries create (DuckDB's
WAL and spill files, SQLite's -wal and -shm); and linkage's own creators set modes
explicitly, so a library caller with a loose umask gets the same result.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "check_replaceable", "create_once", "pid_alive", "private_dir", "private_file",
           "private_opener", "private_umask", "write_private"]

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make everything this process creates from now on private to its user; returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def private_opener(path: str, flags: int) -> int:
    """For ``open(..., opener=private_opener)``: a new file is 0600 from its first byte."""
    return os.open(path, flags, 0o600)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) if needed and make it 0700 if this user owns it.

    Refused (one line) when another user could replace what is in it: it, or a directory above
    it, belongs to a user other than this one or root, or others may write it (a sticky directory
    such as /tmp aside, above it). A local user who made ``.linkage`` first, where the operator
    runs the command, or a shared directory above the data directory, would otherwise own where
    the keys, the database and the audit log go: free to plant a key of theirs, a symbolic link, or
    an older log (OpenSSH's StrictModes refuse such a directory for the same reason)."""
    from linkage.errors import LinkageError

    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    me = os.getuid()
    if path.stat().st_uid == me:
        os.chmod(path, 0o700)
    for place in (path.resolve(), *path.resolve().parents):
        st = place.stat()
        others_write = st.st_mode & 0o022 and not (place != path.resolve() and st.st_mode & stat.S_ISVTX)
        if st.st_uid not in (me, 0) or others_write:
            whose = f"belongs to another user (uid {st.st_uid})" if st.st_uid not in (me, 0) else "others may write to it"
            raise LinkageError(f"{place} {whose}: whoever can write there can replace the keys, database or audit "
                               f"log kept in {path}; use a directory only this user (uid {me}) can write")
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, and make it 0600."""
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` as a new file, 0600 from its first byte, put in place by one rename.

    Whatever was at ``path`` is replaced, never written through: a symbolic link planted there
    (the write would land in its target), or a file another user created or left readable
    (opening it would keep its owner and mode, and they would read what was exported). A
    failure part-way leaves what was there. Every export the CLI writes comes through here."""
    from linkage.errors import LinkageError

    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise LinkageError(f"{path} is a directory: name a file to write")
    if not path.parent.is_dir():
        raise LinkageError(f"cannot write {path}: there is no directory {path.parent}")
    if path.exists() and not path.is_symlink() and not path.is_file():     # renamed over, /dev/null would go
        raise LinkageError(f"{path} is not a regular file (a device, pipe or socket): name a file to write")
    try:
        tmp = _written_beside(path, data.encode("utf-8") if isinstance(data, str) else data)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except PermissionError as exc:      # e.g. another user's file in a sticky directory (/tmp)
        raise LinkageError(f"cannot write {path}: {exc.strerror}; choose a path in a directory of "
                           "your own") from None
    return path


def create_once(path: Path, data: bytes) -> bytes:
    """Create ``path`` (0600) holding ``data``, unless another process created it first: then what
    that process wrote. Two servers started at once on one data directory must end up with one key,
    not two (each would refuse the other's tokens) and not one crashing on the other's file or
    reading it half-written: the file appears whole, by a hard link, or not at all."""
    path = Path(path)
    tmp = _written_beside(path, data)
    try:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        return data
    finally:
        os.unlink(tmp)


def _written_beside(path: Path, data: bytes) -> str:
    """A new temporary file beside ``path`` (0600 from its first byte, O_EXCL) holding ``data``,
    synced to disk, for the caller to put in place whole by one rename or link; removed if the
    write fails (a full disk leaves no part-file behind)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:      # named by the file wanted, not the random part-file never made
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def check_replaceable(path: Path, own: str, what: str) -> None:
    """Refuse (one line) to write an export over anything but an earlier one of its kind.

    ``write_private`` replaces whatever is at its path: a data manager who names an extract, a
    spreadsheet or a device as the export's target (``export-ids education.csv``) would lose it
    without a word. Replaced freely: nothing there, an empty file, a symbolic link (the link goes,
    never its target), and a file beginning with ``own`` (the text every export of this kind
    begins with: its header). Anything else needs the command's ``--force``."""
    from linkage.errors import LinkageError

    path = Path(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:    # a link is replaced; the rest ``write_private`` refuses
        return
    head = own.encode("utf-8")
    try:
        with open(path, "rb") as fh:
            if fh.read(len(head)) == head:
                return
    except OSError:                     # unreadable: not known to be an earlier export
        pass
    raise LinkageError(f"{path} already exists and is not an earlier {what}: nothing was written; name a new "
                       "file, or add --force to replace it")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (alive but another user's counts): files a process left
    behind, named by its pid, are swept only once it has exited. A number no process can have
    (0 or less, or past a C long: a name any local user may write) is no live process."""
    if pid <= 0:
        return False                        # os.kill(0, ...) would ask about our own group
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
