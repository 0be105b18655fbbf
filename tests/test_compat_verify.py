"""`timbre compat verify`: dispatch of vector sets to checks, seeds, manifests, output and exit status."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from timbre.cli import app
from timbre.compat import verify as verify_module
from timbre.compat.vectors import ArrayCheck, VectorSet, compare
from timbre.compat.verify import DEFAULT_CHECKS, verify_dir

CHECK_MODULES = sorted({spec.partition(":")[0] for spec in DEFAULT_CHECKS.values()})


def _write_set(folder: Path, name: str, seed: int | None, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"{name}.npz", **arrays)
    sidecar = {"file": f"{name}.npz", "arrays": {k: {"shape": list(v.shape)} for k, v in arrays.items()}}
    if seed is not None:
        sidecar["seed"] = seed
    (folder / f"{name}.json").write_text(json.dumps(sidecar), "utf-8")


def _fake_root(tmp_path: Path, seed: int = 7, sidecar_seed: int | None = 7) -> Path:
    folder = tmp_path / f"vectors_seed{seed}"
    _write_set(folder, "fake_set", sidecar_seed, {"x": np.arange(6, dtype=np.float32), "ids": np.arange(3)})
    index = {
        "seed": seed,
        "params": {"n": 3},
        "vectors": {"fake_set": {"file": "fake_set.npz", "seed": seed}},
    }
    (folder / f"index_seed{seed}.json").write_text(json.dumps(index), "utf-8")
    return tmp_path


def _echo_check(seen: list[VectorSet]):
    def check(vs: VectorSet) -> list[ArrayCheck]:
        seen.append(vs)
        return [
            compare("x", vs.arrays["x"] + 1e-6, vs.arrays["x"]),
            compare("ids", vs.arrays["ids"], vs.arrays["ids"]),
        ]

    return check


def test_registered_check_runs_with_the_recorded_seed_and_params(tmp_path: Path) -> None:
    seen: list[VectorSet] = []
    results = verify_dir(_fake_root(tmp_path), checks={"fake_set": _echo_check(seen)})
    assert [(r.name, r.ok, r.n_arrays) for r in results] == [("vectors_seed7/fake_set", True, 2)]
    assert math.isclose(results[0].worst, 1e-6, rel_tol=1e-3)
    assert seen[0].seed == 7 and seen[0].params == {"n": 3}
    assert seen[0].manifests_dir == tmp_path / "manifests"


def test_seed_comes_from_the_index_when_the_sidecar_has_none(tmp_path: Path) -> None:
    seen: list[VectorSet] = []
    verify_dir(_fake_root(tmp_path, seed=11, sidecar_seed=None), checks={"fake_set": _echo_check(seen)})
    assert seen[0].seed == 11


def test_seed_falls_back_to_the_folder_name(tmp_path: Path) -> None:
    root = _fake_root(tmp_path, seed=5, sidecar_seed=None)
    index_path = root / "vectors_seed5/index_seed5.json"
    index_path.write_text(
        json.dumps({"params": {}, "vectors": {"fake_set": {"file": "fake_set.npz"}}}), "utf-8"
    )
    seen: list[VectorSet] = []
    verify_dir(root, checks={"fake_set": _echo_check(seen)})
    assert seen[0].seed == 5


def test_disagreeing_seeds_fail(tmp_path: Path) -> None:
    results = verify_dir(_fake_root(tmp_path, seed=7, sidecar_seed=3), checks={"fake_set": _echo_check([])})
    assert not results[0].ok and "seeds disagree" in results[0].detail


def test_failing_crashing_empty_and_missing_checks_fail(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)

    def wrong(vs: VectorSet) -> list[ArrayCheck]:
        return [compare("x", vs.arrays["x"] + 1.0, vs.arrays["x"])]

    def crash(vs: VectorSet) -> list[ArrayCheck]:
        raise RuntimeError("boom")

    outcomes = {
        "over tolerance": wrong,
        "RuntimeError: boom": crash,
        "compared no arrays": lambda vs: [],
        "check not available": "timbre.compat.no_such_module:check",
    }
    for detail, check in outcomes.items():
        (result,) = verify_dir(root, checks={"fake_set": check})
        assert not result.ok and detail in result.detail, (detail, result)
    (unchecked,) = verify_dir(root, checks={})
    assert not unchecked.ok and "no check" in unchecked.detail


def test_sets_without_index_entry_or_npz_are_reported(tmp_path: Path) -> None:
    root = _fake_root(tmp_path)
    folder = root / "vectors_seed7"
    _write_set(
        folder, "stray_set", 7, {"y": np.zeros(2, dtype=np.float32)}
    )  # not in the index: still checked
    index = json.loads((folder / "index_seed7.json").read_text("utf-8"))
    index["vectors"]["lost_set"] = {"file": "lost_set.npz", "seed": 7}
    (folder / "index_seed7.json").write_text(json.dumps(index), "utf-8")
    results = {r.name: r for r in verify_dir(root, checks={"fake_set": _echo_check([])})}
    assert results["vectors_seed7/fake_set"].ok
    assert "no check" in results["vectors_seed7/stray_set"].detail
    assert "missing" in results["vectors_seed7/lost_set"].detail


def test_manifests_are_checked(tmp_path: Path, compat_dir: Path) -> None:
    root = _fake_root(tmp_path)
    (root / "manifests").mkdir()
    good = json.loads((compat_dir / "manifests/gpt_v2_Text2SemanticDecoder.json").read_text("utf-8"))
    (root / "manifests/gpt_v2_Text2SemanticDecoder.json").write_text(json.dumps(good), "utf-8")
    bad = {**good, "state_dict": [*good["state_dict"][1:], ["made.up", [2], "float32"]]}
    (root / "manifests/gpt_bad_Text2SemanticDecoder.json").write_text(json.dumps(bad), "utf-8")
    results = {r.name: r for r in verify_dir(root, checks={"fake_set": _echo_check([])}, only="manifests/")}
    assert results["manifests/gpt_v2_Text2SemanticDecoder"].ok
    assert results["manifests/gpt_v2_Text2SemanticDecoder"].n_arrays == 295
    failed = results["manifests/gpt_bad_Text2SemanticDecoder"]
    assert not failed.ok and "1 missing" in failed.detail and "1 unexpected" in failed.detail


def test_cli_unchecked_set_exits_non_zero(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compat", "verify", str(_fake_root(tmp_path))])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert "FAIL" in lines[0] and "vectors_seed7/fake_set" in lines[0]
    assert lines[-1] == "0 passed, 1 failed"


def test_cli_passes_with_a_registered_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "DEFAULT_CHECKS", {"fake_set": _echo_check([])})
    result = CliRunner().invoke(app, ["compat", "verify", str(_fake_root(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_cli_prints_error_text_with_brackets_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(vs: VectorSet) -> list[ArrayCheck]:
        raise ValueError("shape [batch, T] vs [/bold] mismatch")

    monkeypatch.setattr(verify_module, "DEFAULT_CHECKS", {"fake_set": crash})
    result = CliRunner().invoke(app, ["compat", "verify", str(_fake_root(tmp_path))])
    assert result.exit_code == 1 and "shape [batch, T] vs [/bold] mismatch" in result.output


def test_cli_refuses_a_folder_without_vectors(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compat", "verify", str(tmp_path)])
    assert result.exit_code != 0 and "vectors_seed" in str(result.exception)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in CHECK_MODULES),
    reason=f"check modules not all written yet ({', '.join(CHECK_MODULES)})",
)
def test_verify_reference_vectors_end_to_end(compat_dir: Path) -> None:
    """The CI gate: every public vector set and manifest passes through the real entry point."""
    done = subprocess.run(
        [sys.executable, "-m", "timbre", "compat", "verify", str(compat_dir)],
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"
    assert len(lines) - 1 == 9 + 8  # 9 vector sets, 8 manifests
