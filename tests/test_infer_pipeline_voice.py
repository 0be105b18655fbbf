"""Voice folders: save_voice -> load_voice -> Synthesizer, manifest checks, and the same audio as the source models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint
from timbre.errors import TimbreError
from timbre.infer import factory
from timbre.infer.bundled import voiced_signal
from timbre.infer.options import SynthesisOptions
from timbre.infer.pipeline import Synthesizer
from timbre.infer.reference import ReferenceClip
from timbre.infer.voice import VOICE_FILE, load_voice, save_voice
from timbre.models.gpt import original_config

SR = 32_000


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    torch.set_num_threads(1)
    return factory.deterministic(0)


def _checkpoints(synth: Synthesizer) -> tuple[GPTCheckpoint, SoVITSCheckpoint]:
    gpt = GPTCheckpoint("v2", original_config("v2"), synth.gpt.model.state_dict(), "GPT-e1")
    sovits = SoVITSCheckpoint("v2", synth.sovits.cfg.to_original(), synth.sovits.state_dict(), "timbre test")
    return gpt, sovits


@pytest.mark.slow
def test_voice_round_trip_gives_the_same_audio(synth: Synthesizer, tmp_path: Path) -> None:
    ref_path = tmp_path / "ref.wav"
    import soundfile as sf

    sf.write(str(ref_path), voiced_signal(3.2, SR, seed=1), SR)
    gpt, sovits = _checkpoints(synth)
    voice = save_voice(
        tmp_path / "alice", gpt, sovits, name="alice", weights="safetensors",
        reference=(ref_path, "Hello there", "en"), info={"epochs": 3},
    )  # fmt: skip
    assert voice.name == "alice" and voice.version == "v2" and voice.gpt_version == "v2"
    assert voice.reference is not None and voice.reference.text == "Hello there"
    assert load_voice(tmp_path / "alice").info == {"epochs": 3}
    loaded = factory.from_voice(tmp_path / "alice", hubert=synth.hubert)  # type: ignore[arg-type]
    loaded.cap = synth.cap  # the deterministic phone-count cap, to compare like with like
    opts = SynthesisOptions(seed=2, max_new_tokens=12)
    clip = ReferenceClip.load(voice.reference.audio)
    a = synth.synthesize("Hello world.", "en", synth.prepare_reference(clip, "Hello there", "en"), opts)
    b = loaded.synthesize("Hello world.", "en", loaded.prepare_reference(clip, "Hello there", "en"), opts)
    assert np.array_equal(a.audio, b.audio)
    with pytest.raises(TimbreError, match="already holds a voice"):
        save_voice(tmp_path / "alice", gpt, sovits)


def test_original_format_files_and_manifest(synth: Synthesizer, tmp_path: Path) -> None:
    gpt, sovits = _checkpoints(synth)
    voice = save_voice(tmp_path / "v", gpt, sovits)
    assert voice.gpt.name == "gpt.ckpt" and voice.sovits.name == "sovits.pth"
    doc = json.loads((tmp_path / "v" / VOICE_FILE).read_text("utf-8"))
    assert doc["format"] == "timbre-voice" and doc["hubert"] is None and doc["reference"] is None
    g, s = voice.load_checkpoints()
    assert (g.version, s.version) == ("v2", "v2")
    assert g.state_dict["ar_predict_layer.weight"].dtype == torch.float16  # what the original's files hold


def test_speaker_verification_model_is_copied_in(synth: Synthesizer, tmp_path: Path) -> None:
    gpt, sovits = _checkpoints(synth)
    sv = tmp_path / "eres2netv2.ckpt"
    sv.write_bytes(b"state dict bytes")
    voice = save_voice(tmp_path / "v", gpt, sovits, sv=sv)
    assert voice.sv == (tmp_path / "v" / "sv.ckpt").resolve() and voice.sv.read_bytes() == b"state dict bytes"
    assert json.loads((tmp_path / "v" / VOICE_FILE).read_text("utf-8"))["sv"] == "sv.ckpt"
    assert save_voice(tmp_path / "w", gpt, sovits).sv is None
    with pytest.raises(TimbreError, match="not a file"):
        save_voice(tmp_path / "x", gpt, sovits, sv=tmp_path / "missing.ckpt")


def test_every_file_of_a_voice_is_readable_as_a_new_file_is(synth: Synthesizer, tmp_path: Path) -> None:
    """A voice folder can be served by another user: no file keeps a 0600 mode from its writer or its source (a
    HuBERT folder saved by transformers holds a 0600 model.safetensors)."""
    import os
    import stat

    from timbre.files import new_file_mode

    gpt, sovits = _checkpoints(synth)
    hubert = tmp_path / "hubert-src"
    hubert.mkdir()
    (hubert / "config.json").write_text("{}")
    (hubert / "model.safetensors").write_bytes(b"weights")
    os.chmod(hubert / "model.safetensors", 0o600)
    for weights in ("original", "safetensors"):
        folder = tmp_path / weights
        save_voice(folder, gpt, sovits, weights=weights, hubert=hubert)  # type: ignore[arg-type]
        modes = {
            p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in folder.rglob("*")
            if p.is_file()
        }
        assert "hubert/model.safetensors" in modes
        assert set(modes.values()) == {new_file_mode()}, modes


def _write_manifest(folder: Path, **changes: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpt.ckpt").write_bytes(b"x")
    (folder / "sovits.pth").write_bytes(b"x")
    doc = {"format": "timbre-voice", "format_version": 1, "version": "v2", "gpt_version": "v2",
           "gpt": "gpt.ckpt", "sovits": "sovits.pth", **changes}  # fmt: skip
    (folder / VOICE_FILE).write_text(json.dumps(doc), "utf-8")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gpt": "../outside.ckpt"}, "points outside the voice folder"),
        ({"sovits": "missing.pth"}, "sovits file missing.pth is missing"),
        ({"format": "other"}, "not a timbre voice manifest"),
        ({"format_version": 9}, "format_version 9 is not supported"),
        ({"reference": {"audio": "r.wav"}}, "'reference' needs"),
        ({"sv": "../outside.ckpt"}, "'sv' .* points outside the voice folder"),
        ({"sv": "sv.ckpt"}, "sv file sv.ckpt is missing"),
    ],
)
def test_bad_manifests(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    (tmp_path / "outside.ckpt").write_bytes(b"x")
    _write_manifest(tmp_path / "voice", **changes)
    with pytest.raises(TimbreError, match=message):
        load_voice(tmp_path / "voice")


def test_not_a_voice_folder(tmp_path: Path) -> None:
    with pytest.raises(TimbreError, match="not a voice folder"):
        load_voice(tmp_path)
