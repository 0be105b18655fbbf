"""`timbre compat inspect` and `timbre compat convert` between the original formats and safetensors."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from test_compat_checkpoints import fake_gpt, fake_sovits
from timbre.cli import app
from timbre.compat.checkpoints import load_gpt, load_sovits, save_gpt_ckpt, save_sovits_pth
from timbre.compat.native import load_safetensors


def _run(*args: str):
    return CliRunner().invoke(app, ["compat", *args])


def test_inspect_reports_kind_version_and_evidence(tmp_path: Path) -> None:
    path = save_sovits_pth(fake_sovits("v2Pro"), tmp_path / "voice.pth")
    result = _run("inspect", str(path))
    assert result.exit_code == 0, result.output
    assert "sovits v2Pro" in result.output and "marker 05" in result.output


def test_convert_pth_to_safetensors_and_back(tmp_path: Path) -> None:
    source = save_sovits_pth(fake_sovits("v2ProPlus"), tmp_path / "voice.pth")
    assert _run("convert", str(source), str(tmp_path / "voice.safetensors")).exit_code == 0
    native = load_safetensors(tmp_path / "voice.safetensors")
    assert native.version == "v2ProPlus"
    assert _run("convert", str(tmp_path / "voice.safetensors"), str(tmp_path / "back.pth")).exit_code == 0
    back, original = load_sovits(tmp_path / "back.pth"), load_sovits(source)
    assert (tmp_path / "back.pth").read_bytes()[:2] == b"06"
    assert all(torch.equal(back.state_dict[k], v) for k, v in original.state_dict.items())


def test_convert_gpt_and_refuse_wrong_suffix(tmp_path: Path) -> None:
    source = save_gpt_ckpt(fake_gpt("v1"), tmp_path / "gpt.ckpt")
    assert _run("convert", str(source), str(tmp_path / "gpt.safetensors")).exit_code == 0
    assert (
        _run("convert", str(tmp_path / "gpt.safetensors"), str(tmp_path / "out.ckpt"), "--fp32").exit_code
        == 0
    )
    assert load_gpt(tmp_path / "out.ckpt").version == "v1"
    refused = _run("convert", str(source), str(tmp_path / "gpt.pth"))
    assert refused.exit_code != 0 and "cannot write a gpt checkpoint as .pth" in str(refused.exception)
