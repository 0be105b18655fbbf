"""Atomic file writes that leave files with the usual permissions.

Everything timbre writes into a dataset or voice folder goes to a temporary name in the same folder and is renamed
into place, so that a killed process leaves the old file or the new one, never half of one. safetensors' writer (like
`tempfile.mkstemp`) creates files readable by their owner only (0600); the finished file gets the mode any new file
gets under the process's umask (0644 with the usual 022), as a plain `open` gives, so that a voice folder can be
served by another user (a container, a web server).
"""

from __future__ import annotations

import os
import re
import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from timbre.errors import TimbreError

try:
    import fcntl
except ImportError:  # not POSIX: folders are not locked
    fcntl = None  # type: ignore[assignment]


def _umask() -> int:
    """The process's umask. Linux reports it in /proc; elsewhere it is read by setting and restoring it, which
    briefly changes it for every thread (a server's other threads may be creating files), so /proc comes first."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def exclusive_dir(
    folder: Path, user: str, wait: Callable[[], None] | None = None, busy: str | None = None
) -> Iterator[Path]:
    """Hold `folder` (created if missing) for this process until the block ends. The lock is the kernel's (`flock`
    on the folder itself), so a killed process never leaves it behind. A folder this call created is removed again
    when the block fails and leaves it empty.

    When another process holds the folder (or reads it, `shared_dir`), the call raises a `TimbreError` at once,
    saying `busy` (default: that another `user`, e.g. "timbre train", has it); or, given `wait`, calls it (to say
    that it waits) and waits for the folder."""
    if folder.exists() and not folder.is_dir():
        raise TimbreError(f"{folder} is a file; give a folder")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, exclusive=True, user=user, wait=wait, busy=busy):
        try:
            yield folder
        except BaseException:
            if created and not any(folder.iterdir()):
                folder.rmdir()
            raise


@contextmanager
def shared_dir(folder: Path, user: str, busy: str | None = None) -> Iterator[Path]:
    """Read `folder` (which must exist) until the block ends: any number of processes may read it together, while
    `exclusive_dir` (a process writing it) is refused, and a folder being written is refused here at once."""
    with _locked(folder, exclusive=False, user=user, wait=None, busy=busy):
        yield folder


@contextmanager
def _locked(
    folder: Path, exclusive: bool, user: str, wait: Callable[[], None] | None, busy: str | None
) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if fcntl is not None:
            operation = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                try:
                    fcntl.flock(fd, operation | fcntl.LOCK_NB)
                except BlockingIOError:
                    if wait is None:
                        raise TimbreError(
                            busy
                            or f"{folder} is in use by another {user}; wait for it to finish, or choose "
                            "another folder"
                        ) from None
                    wait()
                    fcntl.flock(fd, operation)
            except OSError as exc:  # a file system without locks (some network or FUSE mounts): go on without
                warnings.warn(
                    f"{folder} cannot be locked ({exc.strerror}); make sure no other {user} writes it meanwhile",
                    RuntimeWarning,
                    stacklevel=3,  # exclusive_dir's or shared_dir's caller's frame is past contextlib's
                )
        yield
    finally:
        os.close(fd)  # releases the lock


_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+")


def remove_stale_temp_files(folder: Path, held: bool = False) -> int:
    """Remove the temporary files (`atomic_path`) that runs killed mid-write left anywhere under `folder`; returns
    how many. Unless the caller holds the folder (`exclusive_dir`; then no one else writes there), a file whose
    writing process still runs is kept. Checkpoints are large: every killed save would otherwise keep its size on
    disk for good."""
    removed = 0
    for path in folder.rglob(".*.tmp-*") if folder.is_dir() else ():
        match = _TEMP_NAME.match(path.name)
        if match is None or not path.is_file() or (not held and _process_runs(int(match.group(1)))):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def new_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less the umask."""
    return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; on success it is flushed to disk, given the usual mode and
    renamed onto `path`; on failure it is removed and `path` is left as it was.

    The temporary name is `.NAME.tmp-PID-RANDOM.SUFFIX` (the suffix kept for writers that read it), so a run killed
    mid-write leaves at most such a file, never a half-written file under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
