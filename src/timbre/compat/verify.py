"""Verify timbre against a folder of reference data: every vector set and every manifest, one result each.

Layout of the folder (as the compatibility data ships it):
    DIR/manifests/<model>.json                   state-dict manifests (names, shapes, config)
    DIR/vectors_seed<S>/index_seed<S>.json       seed, input-size parameters, one entry per vector set
    DIR/vectors_seed<S>/<set>.npz + <set>.json   arrays and their sidecar (shapes, calls, seed)

Each vector set is dispatched by name to a check function (`VectorSet -> list[ArrayCheck]`), imported lazily so a
missing check shows up as a failed set instead of an import error. A set without a check, a check that raises, or a
check that compares nothing counts as failed: nothing present in DIR passes unverified.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from timbre.compat.vectors import ArrayCheck, CheckFn, VectorSet
from timbre.errors import TimbreError

# Vector-set name -> "module:function" of its check.
DEFAULT_CHECKS: Mapping[str, str] = MappingProxyType(
    {
        "sovits_v2_spectrogram": "timbre.compat.vectors_audio:check_spectrogram",
        "sovits_v2_extract_latent": "timbre.compat.vectors_sovits:check_extract_latent",
        "sovits_v2_decode": "timbre.compat.vectors_sovits:check_decode",
        "sovits_v2pro_decode": "timbre.compat.vectors_sovits:check_decode",
        "sovits_v2proplus_decode": "timbre.compat.vectors_sovits:check_decode",
        "sovits_v2_mpd": "timbre.compat.vectors_sovits:check_mpd",
        "gpt_v2_infer": "timbre.compat.vectors_gpt:check_infer",
        "gpt_v2_sample": "timbre.compat.vectors_gpt:check_sample",
        "gpt_v2_train_forward": "timbre.compat.vectors_gpt:check_train_forward",
    }
)
_SEED_DIR = re.compile(r"^vectors_seed(\d+)$")


@dataclass(frozen=True)
class SetResult:
    name: str  # "vectors_seed0/sovits_v2_decode" or "manifests/sovits_v2_SynthesizerTrn"
    ok: bool
    n_arrays: int  # arrays compared (manifests: state-dict keys)
    worst: float  # largest max-abs error over the compared arrays (nan when nothing was compared)
    detail: str = ""
    seconds: float = 0.0


def resolve_check(spec: CheckFn | str) -> CheckFn:
    """A check function, importing "module:function" specs on first use."""
    if callable(spec):
        return spec
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def _array_result(name: str, checks: list[ArrayCheck], seconds: float) -> SetResult:
    if not checks:
        return SetResult(name, False, 0, math.nan, "the check compared no arrays", seconds)
    failed = [c for c in checks if not c.ok]
    worst = max(c.max_abs_err for c in checks)
    detail = "; ".join(f"{c.name}: {c.detail or 'failed'} (max err {c.max_abs_err:.3g})" for c in failed[:4])
    if len(failed) > 4:
        detail += f"; +{len(failed) - 4} more"
    return SetResult(name, not failed, len(checks), worst, detail, seconds)


def _resolve_seed(folder: Path, index: Mapping[str, Any], name: str, sidecar: Mapping[str, Any]) -> int:
    """The weight seed of a set: the sidecar, the index entry and the index must agree wherever they state one.

    The folder name (`vectors_seed<S>`) is used only when no file records a seed.
    """
    entry = (index.get("vectors") or {}).get(name) or {}
    stated = {"sidecar": sidecar.get("seed"), "index entry": entry.get("seed"), "index": index.get("seed")}
    seeds = {where: int(value) for where, value in stated.items() if value is not None}
    if len(set(seeds.values())) > 1:
        raise TimbreError(f"the recorded seeds disagree: {seeds}")
    if seeds:
        return next(iter(seeds.values()))
    match = _SEED_DIR.match(folder.name)
    if match is None:
        raise TimbreError("no seed recorded in the sidecar, the index or the folder name")
    return int(match.group(1))


def _run_set(
    folder: Path, index: Mapping[str, Any], name: str, checks: Mapping[str, CheckFn | str], manifests: Path
) -> SetResult:
    label = f"{folder.name}/{name}"
    started = time.perf_counter()

    def failed(detail: str) -> SetResult:
        return SetResult(label, False, 0, math.nan, detail, time.perf_counter() - started)

    entry = (index.get("vectors") or {}).get(name) or {}
    npz = folder / str(entry.get("file") or f"{name}.npz")
    if not npz.is_file():
        return failed(f"{npz.name} is listed in the index but missing")
    spec = checks.get(name)
    if spec is None:
        return failed("no check is registered for this vector set")
    try:
        check = resolve_check(spec)
    except (ImportError, AttributeError) as exc:
        return failed(f"check not available: {type(exc).__name__}: {exc}")
    try:
        vectors = VectorSet.load(npz, params=index.get("params") or {}, manifests_dir=manifests)
        vectors = dataclasses.replace(vectors, seed=_resolve_seed(folder, index, name, vectors.sidecar))
        results = check(vectors)
    except Exception as exc:  # a crashing check is a failed set, reported with its error
        return failed(f"{type(exc).__name__}: {exc}")
    return _array_result(label, list(results), time.perf_counter() - started)


def _read_index(folder: Path) -> tuple[dict[str, Any], str]:
    """The folder's index (empty when absent or unreadable) and a problem description ('' when fine)."""
    found = sorted(folder.glob("index_seed*.json"))
    if len(found) != 1:
        return {}, f"expected one index_seed*.json, found {len(found)}"
    try:
        index = json.loads(found[0].read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{found[0].name} is unreadable: {exc}"
    return (index, "") if isinstance(index, dict) else ({}, f"{found[0].name} is not a JSON object")


def _check_manifest_file(path: Path) -> SetResult:
    from timbre.compat.build import check_manifest

    label = f"manifests/{path.stem}"
    started = time.perf_counter()
    try:
        manifest = json.loads(path.read_text("utf-8"))
        report = check_manifest(manifest)
    except Exception as exc:  # missing model code, bad config: a failed line, not a crash
        return SetResult(
            label, False, 0, math.nan, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
        )
    n_keys = len(manifest["state_dict"])
    problems = len(report.missing) + len(report.unexpected) + len(report.mismatched)
    detail = "" if report.ok else report.summary()
    return SetResult(label, report.ok, n_keys, float(problems), detail, time.perf_counter() - started)


def verify_dir(
    root: str | Path,
    checks: Mapping[str, CheckFn | str] | None = None,
    only: str | None = None,
    on_result: Callable[[SetResult], None] | None = None,
) -> list[SetResult]:
    """Check every vector set in every `vectors_seed*/` folder of `root` and every manifest in `root/manifests`.

    `checks` replaces the name → check table (default `DEFAULT_CHECKS`); `only` keeps the results whose name
    contains it; `on_result` is called as each result is ready (for progress output).
    """
    root = Path(root)
    if not root.is_dir():
        raise TimbreError(f"{root} is not a folder; give the folder that holds vectors_seed*/ and manifests/")
    folders = sorted(p for p in root.glob("vectors_seed*") if p.is_dir())
    if not folders:
        raise TimbreError(f"{root} has no vectors_seed*/ folder; give the compatibility data folder")
    table = DEFAULT_CHECKS if checks is None else checks
    manifests = root / "manifests"
    results: list[SetResult] = []

    def emit(result: SetResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def wanted(name: str) -> bool:
        return only is None or only in name

    for folder in folders:
        index, problem = _read_index(folder)
        if problem and wanted(f"{folder.name}/index"):
            emit(SetResult(f"{folder.name}/index", False, 0, math.nan, problem))
        names = sorted(set(index.get("vectors") or {}) | {p.stem for p in folder.glob("*.npz")})
        for name in names:
            if wanted(f"{folder.name}/{name}"):
                emit(_run_set(folder, index, name, table, manifests))
    for path in sorted(manifests.glob("*.json")) if manifests.is_dir() else []:
        if wanted(f"manifests/{path.stem}"):
            emit(_check_manifest_file(path))
    return results
