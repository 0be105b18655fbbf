"""Loading torch files never runs code from them; version-marked files and the original's HParams configs load."""

from __future__ import annotations

import io
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from timbre.compat.checkpoints import load_gpt, load_original, load_sovits
from timbre.compat.safe_load import read_torch_file, write_torch_file
from timbre.errors import CheckpointError


class _Exploit:
    """Unpickling this calls `open(marker, "w")`: a harmless stand-in for arbitrary code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_payload(marker: Path) -> dict:
    return {
        "weight": {"enc_p.text_embedding.weight": torch.zeros(2, 2)},
        "config": {"model": {}},
        "x": _Exploit(marker),
    }


@pytest.mark.parametrize("loader", [read_torch_file, load_sovits, load_gpt, load_original])
def test_malicious_zip_checkpoint_is_rejected(tmp_path: Path, loader) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save(_malicious_payload(marker), path)
    with pytest.raises(CheckpointError, match="refused to load"):
        loader(path)
    assert not marker.exists()


def test_malicious_version_marked_checkpoint_is_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save(_malicious_payload(marker), buffer)
    path = tmp_path / "evil_v2pro.pth"
    path.write_bytes(b"05" + buffer.getvalue()[2:])
    with pytest.raises(CheckpointError, match="refused to load"):
        load_sovits(path)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil_v2pro.pth"]  # no temp file left behind


def test_malicious_plain_pickle_is_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"config": {"model": {}}, "x": _Exploit(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match="refused to load.*open"):
        read_torch_file(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the file really is an exploit: a plain unpickler runs it
    assert marker.exists()


def test_version_marker_is_restored_in_memory(tmp_path: Path) -> None:
    payload = {"weight": {"a": torch.arange(6.0).reshape(2, 3)}, "config": {"model": {"x": 1}}, "info": "i"}
    path = write_torch_file(payload, tmp_path / "m.pth", marker=b"06")
    assert path.read_bytes()[:2] == b"06"
    loaded = read_torch_file(path)
    assert loaded.marker == b"06"
    assert torch.equal(loaded.payload["weight"]["a"], payload["weight"]["a"])
    plain = read_torch_file(write_torch_file(payload, tmp_path / "p.pth"))
    assert plain.marker is None and plain.payload["info"] == "i"


def test_original_hparams_config_becomes_nested_dicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The original pickles its `utils.HParams` object as `config`; it loads as plain dicts without running code."""
    fake_utils = types.ModuleType("utils")

    class HParams:
        def __init__(self, **kwargs):
            for key, value in kwargs.items():
                setattr(self, key, HParams(**value) if isinstance(value, dict) else value)

    HParams.__module__ = "utils"
    HParams.__qualname__ = "HParams"
    fake_utils.HParams = HParams
    monkeypatch.setitem(sys.modules, "utils", fake_utils)
    config = {
        "data": {"sampling_rate": 32000},
        "model": {"gin_channels": 512, "upsample_rates": [10, 8]},
        "name": "x",
    }
    path = tmp_path / "hp.pth"
    torch.save({"weight": {}, "config": HParams(**config), "info": "1epoch_2iteration"}, path)
    monkeypatch.delitem(sys.modules, "utils")  # the loader must not need the original's code
    loaded = read_torch_file(path).payload
    assert loaded["config"] == config
    assert type(loaded["config"]["model"]) is dict


def test_missing_empty_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_torch_file(tmp_path / "nope.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_torch_file(tmp_path / "empty.pth")
    (tmp_path / "junk.pth").write_bytes(b"05 definitely not a zip")
    with pytest.raises(CheckpointError, match="not a torch zip"):
        read_torch_file(tmp_path / "junk.pth")
    (tmp_path / "text.pth").write_bytes(b"hello world")
    with pytest.raises(CheckpointError):
        read_torch_file(tmp_path / "text.pth")
