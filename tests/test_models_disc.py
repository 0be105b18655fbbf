"""Multi-period discriminator layout, reference scores and GAN losses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from timbre.compat.vectors import VectorSet
from timbre.compat.vectors_sovits import check_mpd
from timbre.models.discriminators import MultiPeriodDiscriminator
from timbre.models.losses import discriminator_loss, feature_loss, generator_loss, kl_loss

COMPAT = Path(__file__).parent / "fixtures" / "compat"


@pytest.mark.parametrize(
    ("version", "manifest"), [("v2", "v2"), ("v1", "v2"), ("v2Pro", "v2Pro"), ("v2ProPlus", "v2Pro")]
)
def test_state_dict_matches_manifest(version: str, manifest: str) -> None:
    data = json.loads((COMPAT / "manifests" / f"sovits_{manifest}_MultiPeriodDiscriminator.json").read_text())
    got = [(k, list(v.shape)) for k, v in MultiPeriodDiscriminator(version).state_dict().items()]
    assert got == [(k, shape) for k, shape, _ in data["state_dict"]]


def test_unknown_version() -> None:
    with pytest.raises(ValueError, match="version"):
        MultiPeriodDiscriminator("v9")


def test_mpd_vectors() -> None:
    params = json.loads((COMPAT / "vectors_seed0" / "index_seed0.json").read_text())["params"]
    checks = check_mpd(VectorSet.load(COMPAT / "vectors_seed0" / "sovits_v2_mpd.npz", params))
    assert len(checks) == 21 and all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_losses_small_cases() -> None:
    real = [torch.ones(2, 3), torch.ones(1, 4)]
    fake = [torch.zeros(2, 3), torch.full((1, 4), 0.5)]
    d_loss, r_parts, g_parts = discriminator_loss(real, fake)
    assert r_parts == [0.0, 0.0] and g_parts == [0.0, 0.25] and float(d_loss) == pytest.approx(0.25)
    g_loss, parts = generator_loss(fake)
    assert float(g_loss) == pytest.approx(1.25) and len(parts) == 2
    fm = feature_loss([[torch.ones(2, 2)], [torch.zeros(3)]], [[torch.zeros(2, 2)], [torch.ones(3)]])
    assert float(fm) == pytest.approx(4.0)
    z = torch.zeros(1, 2, 3)
    assert float(kl_loss(z, z, z, z, torch.ones(1, 1, 3))) == pytest.approx(-0.5 * 2)
