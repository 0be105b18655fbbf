"""The deterministic-weights rule: per-tensor generators, derived weight_g / embed_avg, and the reference generator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from timbre.compat.detweights import deterministic_arrays

COMPAT = Path(__file__).parent / "fixtures" / "compat"
SHARED_REF = Path(__file__).resolve().parents[2] / "shared" / "compat" / "detweights.py"


def _shapes(name: str) -> dict[str, list[int]]:
    manifest = json.loads((COMPAT / "manifests" / f"{name}.json").read_text())
    return {k: s for k, s, _ in manifest["state_dict"]}


def test_each_tensor_depends_only_on_its_name_seed_and_shape() -> None:
    shapes = _shapes("sovits_v2_SynthesizerTrn")
    full = deterministic_arrays(shapes, seed=5)
    key = "enc_p.text_embedding.weight"
    alone = deterministic_arrays({key: shapes[key]}, seed=5)
    np.testing.assert_array_equal(full[key], alone[key])
    assert not np.array_equal(full[key], deterministic_arrays({key: shapes[key]}, seed=6)[key])


def test_derived_tensors() -> None:
    arrays = deterministic_arrays(_shapes("sovits_v2_SynthesizerTrn"), seed=0)
    for key, g in arrays.items():
        if key.endswith("weight_g"):
            v = arrays[key[: -len("weight_g")] + "weight_v"].astype(np.float64)
            np.testing.assert_allclose(
                g.reshape(-1), np.sqrt((v.reshape(v.shape[0], -1) ** 2).sum(1)), rtol=1e-6
            )
    embed = "quantizer.vq.layers.0._codebook.embed"
    np.testing.assert_array_equal(arrays[embed], arrays[embed + "_avg"])
    assert all(a.dtype == np.float32 for a in arrays.values())


def test_gpt_residual_projections_are_scaled_by_depth() -> None:
    arrays = deterministic_arrays(_shapes("gpt_v2_Text2SemanticDecoder"), seed=0)
    out_std = arrays["h.layers.0.linear2.weight"].std() * np.sqrt(2048)
    in_std = arrays["h.layers.0.linear1.weight"].std() * np.sqrt(512)
    assert out_std == pytest.approx(1 / np.sqrt(48), rel=0.05)
    assert in_std == pytest.approx(1.0, rel=0.05)


def test_unknown_tensor_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rule"):
        deterministic_arrays({"mystery": [3]}, seed=0)


@pytest.mark.skipif(not SHARED_REF.exists(), reason="reference generator not beside this checkout")
@pytest.mark.parametrize("manifest", sorted(p.stem for p in (COMPAT / "manifests").glob("*.json")))
def test_equals_reference_generator(manifest: str) -> None:
    spec = importlib.util.spec_from_file_location("ref_detweights", SHARED_REF)
    assert spec and spec.loader
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    data = json.loads((COMPAT / "manifests" / f"{manifest}.json").read_text())
    want = ref.build_state_dict(data, 11)
    got = deterministic_arrays({k: s for k, s, _ in data["state_dict"]}, seed=11)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
