"""Atomic writes: all or nothing, and the finished file has the usual permissions (safetensors writes 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tests.test_compat_checkpoints import fake_gpt

from timbre.compat.native import save_safetensors
from timbre.files import atomic_path, new_file_mode


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
