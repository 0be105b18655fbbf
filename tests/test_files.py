"""Atomic writes: all or nothing, and the finished file has the usual permissions (safetensors writes 0600); a
folder held by one process at a time."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tests.test_compat_checkpoints import fake_gpt

from timbre.compat.native import save_safetensors
from timbre.errors import TimbreError
from timbre.files import atomic_path, exclusive_dir, new_file_mode, remove_stale_temp_files, shared_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_finished_file_gets_the_mode_a_plain_open_gives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "arrays.safetensors"
    with atomic_path(target) as tmp:
        save_file({"a": np.zeros(3)}, str(tmp))
        assert _mode(tmp) == 0o600  # what safetensors makes
    assert _mode(target) == _mode(plain) == new_file_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays.safetensors", "plain.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_voice_weights_are_readable_by_others_under_the_usual_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = save_safetensors(fake_gpt(), tmp_path / "gpt.safetensors")
    finally:
        os.umask(previous)
    assert _mode(path) == 0o644


def test_a_held_folder_is_refused_to_anyone_else_until_released(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    with exclusive_dir(folder, "timbre train"):
        assert folder.is_dir()
        with pytest.raises(TimbreError, match=r"voice is in use by another timbre train; wait"):
            with exclusive_dir(folder, "timbre train"):
                pass
    with exclusive_dir(folder, "timbre train"):  # released
        pass
    (tmp_path / "file").touch()
    with pytest.raises(TimbreError, match="is a file"):
        with exclusive_dir(tmp_path / "file", "timbre train"):
            pass


def test_readers_share_a_folder_and_exclude_a_writer(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    with (
        shared_dir(folder, "timbre train"),
        shared_dir(folder, "timbre train"),
    ):  # two trainings read one dataset
        with pytest.raises(TimbreError, match="a train reads it"):
            with exclusive_dir(folder, "timbre prepare", busy="a train reads it"):
                pass
    with exclusive_dir(folder, "timbre prepare"):
        with pytest.raises(TimbreError, match="being written"):
            with shared_dir(folder, "timbre train", busy=f"{folder} is being written"):
                pass
    with shared_dir(folder, "timbre train"):  # released
        pass


def test_a_waiting_writer_says_so_and_gets_the_folder_when_it_is_released(tmp_path: Path) -> None:
    folder = tmp_path / "features"
    events: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with exclusive_dir(folder, "feature extraction", wait=lambda: events.append("waiting")):
            events.append("held")

    with exclusive_dir(folder, "feature extraction"):
        thread = threading.Thread(target=second)
        thread.start()
        for _ in range(200):  # the waiting thread announces itself, then blocks in the kernel
            if events:
                break
            entered.wait(0.01)
        assert events == ["waiting"]
        events.append("released")
    thread.join(timeout=10)
    assert events == ["waiting", "released", "held"]
    with exclusive_dir(folder, "feature extraction", wait=lambda: events.append("never")):
        pass  # free: no wait
    assert events[-1] == "held"


def test_a_failed_block_removes_only_an_empty_folder_it_created(tmp_path: Path) -> None:
    for folder, content in ((tmp_path / "new" / "voice", False), (tmp_path / "kept", True)):
        with pytest.raises(RuntimeError):
            with exclusive_dir(folder, "timbre train"):
                if content:
                    (folder / "x").touch()
                raise RuntimeError
        assert folder.exists() == content
    assert (tmp_path / "new").is_dir()  # only the folder itself, not its parents
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError):
        with exclusive_dir(existing, "timbre train"):
            raise RuntimeError
    assert existing.is_dir()


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    code = (
        "import sys, time; from pathlib import Path; from timbre.files import exclusive_dir\n"
        "with exclusive_dir(Path(sys.argv[1]), 'timbre train'):\n"
        "    print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(TimbreError, match="in use"):
            with exclusive_dir(folder, "timbre train"):
                pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with exclusive_dir(folder, "timbre train"):
        pass


def dead_pid() -> int:
    """The PID of a process that has finished."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_files_of_killed_runs_are_removed_and_a_running_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / "checkpoints" / "sovits" / f".step-000000040.pt.tmp-{dead_pid()}-0a1b2c3d.pt"
    alive = tmp_path / f".index.json.tmp-{os.getpid()}-12345678.json"
    other = tmp_path / ".notes.tmp-draft"  # not a name timbre writes
    for path in (dead, alive, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    assert remove_stale_temp_files(tmp_path) == 1
    assert not dead.exists() and alive.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path, held=True) == 1  # the caller holds the folder: all are stale
    assert not alive.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path / "missing") == 0


def test_a_file_system_without_locks_is_used_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import timbre.files

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(timbre.files.fcntl, "flock", no_locks)
    with pytest.warns(RuntimeWarning, match="cannot be locked"):
        with exclusive_dir(tmp_path / "voice", "timbre train"):
            (tmp_path / "voice" / "x").touch()
    assert (tmp_path / "voice" / "x").is_file()
