"""`timbre train` recipe: every bad input is refused before any training, with a message that says what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from timbre.compat.safe_load import write_torch_file
from timbre.train.recipe import TrainOptions, TrainResult, batch_plan, train_voice
from timbre.train.tiny import voiced_clip, write_tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("dataset"), seconds=3.5)


def _sovits_payload(text_rows: int = 732) -> dict:
    return {
        "weight": {
            "enc_p.text_embedding.weight": torch.zeros(text_rows, 4),
            "dec.conv_pre.weight": torch.zeros(8, 4, 7),
            "enc_q.pre.weight": torch.zeros(8, 4, 1),  # a pretrained generator keeps its posterior encoder
        },
        "config": {"model": {"version": "v2"}},
        "info": "fake",
    }


def _gpt_payload(phone_rows: int = 732) -> dict:
    return {
        "weight": {"model.ar_text_embedding.word_embeddings.weight": torch.zeros(phone_rows, 4)},
        "config": {"model": {"phoneme_vocab_size": phone_rows}},
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small stand-ins with the names and shapes the version checks read (they cannot be built into models)."""
    root = tmp_path_factory.mktemp("pretrained")
    paths = {
        "sovits": write_torch_file(_sovits_payload(), root / "s2G2333k.pth"),
        "sovits_v1": write_torch_file(_sovits_payload(322), root / "s2G488k.pth"),
        "gpt": write_torch_file(_gpt_payload(), root / "s1v2.ckpt"),
        "gpt_v1": write_torch_file(_gpt_payload(512), root / "s1v1.ckpt"),
        "hubert": root / "hubert",
        "roberta": root / "roberta",
    }
    for kind in ("hubert", "roberta"):
        paths[kind].mkdir()
        (paths[kind] / "config.json").write_text(f'{{"model_type": "{kind}"}}')
        (paths[kind] / "model.safetensors").write_bytes(b"")
    return paths


def _train(dataset: Path, out: Path, **changes) -> None:
    train_voice(TrainOptions(dataset_dir=dataset, out_dir=out, progress=False, **changes))


def _pretrained(files: dict[str, Path], sovits: str = "sovits", gpt: str = "gpt") -> dict[str, Path]:
    return {
        "pretrained_sovits": files[sovits],
        "pretrained_gpt": files[gpt],
        "hubert": files["hubert"],
        "roberta": files["roberta"],
    }


def _copy_dataset(src: Path, dst: Path) -> Path:
    (dst / "wavs").mkdir(parents=True)
    for wav in (src / "wavs").iterdir():
        (dst / "wavs" / wav.name).write_bytes(wav.read_bytes())
    (dst / "dataset.list").write_text((src / "dataset.list").read_text(encoding="utf-8"), encoding="utf-8")
    return dst


def test_chinese_needs_roberta(dataset: Path, files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="4 Chinese segments .* need the Chinese RoBERTa model: pass --roberta"
    ):
        _train(dataset, tmp_path / "voice", **(_pretrained(files) | {"roberta": None}))


def test_missing_pretrained_flags(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--pretrained-gpt, --pretrained-sovits, --hubert.*--config tiny"):
        _train(dataset, tmp_path / "voice")


@pytest.mark.parametrize(
    "lines, message",
    [
        (None, "missing or incomplete transcripts.*expected one .list file"),
        ("", "missing or incomplete transcripts.*no entries"),
        ("wavs/tiny_000.wav|tiny|ZH|\n", "missing or incomplete transcripts.*wav\\|speaker\\|LANG\\|text"),
        ("wavs/nope.wav|tiny|ZH|你好\n", "do not exist.*nope.wav"),
    ],
)
def test_transcript_problems(dataset: Path, tmp_path: Path, lines: str | None, message: str) -> None:
    data = _copy_dataset(dataset, tmp_path / "data")
    if lines is None:
        (data / "dataset.list").unlink()
    else:
        (data / "dataset.list").write_text(lines, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        _train(data, tmp_path / "voice", config="tiny")
    assert not (tmp_path / "voice").exists()  # refused before anything was written


def test_dataset_under_ten_seconds(dataset: Path, tmp_path: Path) -> None:
    data = _copy_dataset(dataset, tmp_path / "data")
    lines = (data / "dataset.list").read_text(encoding="utf-8").splitlines()
    (data / "dataset.list").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # 2 x 3.5 s
    with pytest.raises(ValueError, match=r"7\.0 s of audio.*at least 10 s"):
        _train(data, tmp_path / "voice", config="tiny")


def test_mismatched_sample_rate(dataset: Path, tmp_path: Path) -> None:
    data = _copy_dataset(dataset, tmp_path / "data")
    sf.write(data / "wavs" / "tiny_001.wav", voiced_clip(3.5, 1)[::2], 16000)
    with pytest.raises(ValueError, match=r"must be 32000 Hz.*tiny_001.wav \(16000 Hz\).*timbre prepare"):
        _train(data, tmp_path / "voice", config="tiny")


def test_missing_hubert_folder(dataset: Path, files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HuBERT.*folder not found"):
        _train(dataset, tmp_path / "voice", **(_pretrained(files) | {"hubert": tmp_path / "no-hubert"}))


@pytest.mark.parametrize(
    "sovits, gpt, message",
    [
        ("gpt", "gpt", "--pretrained-sovits .*this is a GPT checkpoint"),
        ("sovits", "sovits", "--pretrained-gpt .*not a GPT"),
        ("sovits_v1", "gpt", "SoVITS v1 model; training needs the v2 family"),
        ("sovits", "gpt_v1", "GPT v1 model"),
    ],
)
def test_pretrained_of_the_wrong_kind_or_version(
    dataset: Path, files: dict[str, Path], tmp_path: Path, sovits: str, gpt: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _train(dataset, tmp_path / "voice", **_pretrained(files, sovits, gpt))


def test_discriminator_must_match(dataset: Path, files: dict[str, Path], tmp_path: Path) -> None:
    disc = {"model": {f"discriminators.{i}.conv_post.bias": torch.zeros(1) for i in range(8)}}
    path = write_torch_file(disc, tmp_path / "s2Dv2Pro.pth")
    with pytest.raises(ValueError, match="has 8 discriminators but SoVITS v2 uses 6"):
        _train(dataset, tmp_path / "voice", **_pretrained(files), pretrained_sovits_d=path)
    gen = write_torch_file(_sovits_payload(), tmp_path / "G.pth")
    with pytest.raises(ValueError, match="not a SoVITS discriminator"):
        _train(dataset, tmp_path / "voice", **_pretrained(files), pretrained_sovits_d=gen)


@pytest.mark.parametrize("wrap", ["weight", "model", None])
def test_discriminator_file_formats(tmp_path: Path, wrap: str | None) -> None:
    """The original's pretrained s2D*.pth ({"weight": ...}), a training checkpoint D_*.pth ({"model": ...}, names
    possibly DDP-prefixed) and a bare state dict all load."""
    from timbre.models.discriminators import MultiPeriodDiscriminator
    from timbre.train.inputs import load_discriminator

    torch.manual_seed(3)
    state = MultiPeriodDiscriminator("v2").state_dict()
    if wrap == "model":
        payload: dict = {
            "model": {f"module.{k}": v for k, v in state.items()},
            "iteration": 7,
            "learning_rate": 1e-4,
        }
    else:
        payload = state if wrap is None else {wrap: state}
    loaded = load_discriminator(write_torch_file(payload, tmp_path / "s2D.pth"), "v2")
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())


@pytest.mark.slow
def test_an_inference_export_as_pretrained_generator_is_warned_about(
    tiny_pretrained: dict[str, Path],
) -> None:
    from timbre.train.recipe import build_models

    exported = tiny_pretrained["pretrained_sovits"].with_name("exported.pth")  # save_sovits_pth drops enc_q.*
    opts = TrainOptions(Path("d"), Path("o"), **(tiny_pretrained | {"pretrained_sovits": exported}))
    with pytest.warns(UserWarning, match=r"exported.pth has no posterior encoder \(enc_q"):
        build_models(opts)


def test_bad_options() -> None:
    for changes, message in (
        ({"stage": "both"}, "--stage"),
        ({"config": "huge"}, "--config"),
        ({"batch_size": "big"}, "--batch-size"),
        ({"batch_size": 0}, "--batch-size"),
        ({"grad_clip": -1.0}, "--grad-clip"),
        ({"grad_clip": float("nan")}, "--grad-clip"),
        ({"precision": "fp8"}, "--precision must be one of fp32, bf16, fp16"),
        ({"device": "gpu"}, "--device must be auto, cpu, cuda or cuda:N"),
    ):
        with pytest.raises(ValueError, match=message):
            TrainOptions(Path("d"), Path("o"), **({"config": "tiny"} | changes))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_cuda_without_a_gpu_is_refused_before_any_work(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--device cuda was requested but no CUDA GPU is available"):
        _train(dataset, tmp_path / "voice", config="tiny", device="cuda")
    assert not (tmp_path / "voice").exists()


def test_grad_clip_defaults_to_the_original_and_overrides_both_stages() -> None:
    from timbre.train.recipe import gpt_config, sovits_config

    opts = TrainOptions(
        Path("d"), Path("o"), pretrained_gpt=Path("g"), pretrained_sovits=Path("s"), hubert=Path("h")
    )
    assert (sovits_config(opts).grad_clip, gpt_config(opts).grad_clip) == (None, 1.0)  # as the original
    opts = TrainOptions(Path("d"), Path("o"), config="tiny")  # random tiny models: clipped from the start
    assert (sovits_config(opts).grad_clip, gpt_config(opts).grad_clip) == (1.0, 1.0)
    opts = TrainOptions(Path("d"), Path("o"), config="tiny", grad_clip=5.0)
    assert (sovits_config(opts).grad_clip, gpt_config(opts).grad_clip) == (5.0, 5.0)
    opts = TrainOptions(Path("d"), Path("o"), config="tiny", grad_clip=0.0)  # off: the norm is only measured
    assert (sovits_config(opts).grad_clip, gpt_config(opts).grad_clip) == (None, None)


def test_batch_plan_is_sized_to_the_data() -> None:
    opts = TrainOptions(Path("d"), Path("o"), config="tiny")
    assert batch_plan(opts, [30, 40, 50, 20], 2, lambda n: None, torch.device("cpu")) == (2, 100)
    few_shot = TrainOptions(
        Path("d"), Path("o"), pretrained_gpt=Path("g"), pretrained_sovits=Path("s"), hubert=Path("h")
    )
    lengths = list(np.arange(10, 60, 2))  # 25 segments -> batch 7 (4 steps per epoch)
    assert batch_plan(few_shot, lengths, 8, lambda n: None, torch.device("cpu"))[0] == 7
    fixed = TrainOptions(Path("d"), Path("o"), config="tiny", batch_size=3)
    assert batch_plan(fixed, [10, 20], 2, lambda n: None, torch.device("cpu")) == (3, 60)


def test_a_resumed_auto_batch_keeps_the_batch_of_its_checkpoints(tmp_path: Path) -> None:
    from timbre.train.checkpoints import CheckpointManager
    from timbre.train.stages import checkpoint_dir

    probed: list[int] = []
    probe = lambda n: probed.append(n)  # noqa: E731  (never reached: the checkpoint decides)
    saved = CheckpointManager(checkpoint_dir(tmp_path, "gpt"), signature={"max_batch": 5, "max_frames": 900})
    saved.save(3, {"position": {}})
    auto = TrainOptions(Path("d"), tmp_path, config="tiny", batch_size="auto", resume=True)
    assert batch_plan(auto, [10, 20], 8, probe, torch.device("cuda"), "gpt") == (5, 900)
    assert not probed
    fresh = TrainOptions(Path("d"), tmp_path / "other", config="tiny", batch_size="auto", resume=True)
    assert batch_plan(fresh, [10, 20], 8, probe, torch.device("cpu"), "gpt") == (1, 20)  # nothing saved


@pytest.fixture(scope="module")
def tiny_pretrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny models written as the original's pretrained files (s2G/s2D/s1 names) plus a HuBERT folder."""
    from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint, save_gpt_ckpt, save_sovits_pth
    from timbre.models.discriminators import MultiPeriodDiscriminator
    from timbre.train import tiny

    root = tmp_path_factory.mktemp("tiny-pretrained")
    sovits = tiny.tiny_sovits(5)
    config = tiny.tiny_sovits_config().to_original()
    # as the original's pretrained s2G*.pth: "weight" (posterior encoder included), "config", "info"; the s2D*.pth
    # beside it: {"weight": discriminator state dict}
    write_torch_file(
        {"weight": sovits.state_dict(), "config": config, "info": "pretrained"}, root / "s2G-tiny.pth"
    )
    save_sovits_pth(SoVITSCheckpoint("v2", config, sovits.state_dict()), root / "exported.pth", half=False)
    save_gpt_ckpt(
        GPTCheckpoint("v2", tiny.TINY_GPT.to_original(), tiny.tiny_gpt(5).state_dict()), root / "s1.ckpt"
    )
    torch.manual_seed(5)
    write_torch_file({"weight": MultiPeriodDiscriminator("v2").state_dict()}, root / "s2D-tiny.pth")
    return {
        "pretrained_sovits": root / "s2G-tiny.pth",
        "pretrained_gpt": root / "s1.ckpt",
        "hubert": tiny.save_tiny_hubert(root / "hubert", seed=5),
    }


def _tiny_roberta(folder: Path) -> Path:
    """A 1024-wide, 3-layer random BERT whose vocabulary covers the tiny dataset's characters."""
    import transformers

    from timbre.train.tiny import TINY_LINES

    chars = sorted({c for _, text in TINY_LINES for c in text})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    transformers.BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=1024, num_hidden_layers=3, num_attention_heads=4, intermediate_size=32,
        max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_pretrained_files_are_loaded_with_their_discriminator(tiny_pretrained: dict[str, Path]) -> None:
    import warnings

    from timbre.compat.checkpoints import load_sovits
    from timbre.train.recipe import build_models

    opts = TrainOptions(Path("d"), Path("o"), **tiny_pretrained)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # a pretrained generator with its posterior encoder: nothing to warn about
        models = build_models(opts)
    want = load_sovits(tiny_pretrained["pretrained_sovits"]).state_dict
    got = models.sovits.state_dict()
    assert any(k.startswith("enc_q.") for k in want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert models.version == "v2" and models.sovits_config["model"]["upsample_rates"] == [10, 8, 8]
    torch.manual_seed(5)  # the s2D file beside s2G was found and loaded
    from timbre.models.discriminators import MultiPeriodDiscriminator

    expected = MultiPeriodDiscriminator("v2").state_dict()
    assert all(torch.equal(models.discriminator.state_dict()[k], v) for k, v in expected.items())


def _fine_tune(dataset: Path, tmp_path: Path, **changes: Any) -> TrainResult:
    """One epoch of each stage from pretrained files into tmp_path/voice, on one thread (restored after). The
    original's segment selection applies, with epochs of at least 8 items instead of 100 (4 segments: each twice)."""
    from dataclasses import replace

    from timbre.train import recipe
    from timbre.train.selection import ORIGINAL

    threads = torch.get_num_threads()
    try:
        roberta = _tiny_roberta(tmp_path / "roberta")
        opts = TrainOptions(dataset, tmp_path / "voice", progress=False, epochs_sovits=1, epochs_gpt=1, batch_size=4,
                            threads=1, roberta=roberta, keep_checkpoints=True, **changes)  # fmt: skip
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(
                recipe, "FEW_SHOT", replace(recipe.FEW_SHOT, selection=replace(ORIGINAL, min_epoch_items=8))
            )
            return train_voice(opts)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_fine_tuning_from_pretrained_files(
    dataset: Path, tiny_pretrained: dict[str, Path], tmp_path: Path
) -> None:
    from timbre.infer.voice import load_voice

    result = _fine_tune(dataset, tmp_path, **tiny_pretrained)
    assert result.trained == ["sovits", "gpt"] and result.segments == 4
    for stage in ("sovits", "gpt"):  # an epoch visited each of the 4 segments twice: 2 steps of 4
        last = sorted((tmp_path / "voice" / "training" / "checkpoints" / stage).glob("step-*.pt"))[-1]
        state = torch.load(last, weights_only=True)
        assert state["signature"]["items"] == 8 and state["position"]["step"] == 2, stage
    voice = load_voice(tmp_path / "voice")
    assert (
        voice.hubert is not None and (voice.hubert / "config.json").is_file()
    )  # copied: the voice is self-contained
    gpt, sovits = voice.load_checkpoints()
    assert sovits.version == "v2" and not any(k.startswith("enc_q.") for k in sovits.state_dict)


@pytest.mark.slow
def test_fine_tuning_a_v2pro_voice(dataset: Path, tiny_pretrained: dict[str, Path], tmp_path: Path) -> None:
    """v2Pro end to end: a marked s2Gv2Pro file, speaker-verification features, a voice folder that carries the
    speaker-verification model, so that it synthesizes with no extra flag."""
    from dataclasses import replace

    from timbre.compat.detweights import load_deterministic
    from timbre.compat.versions import VERSION_MARKERS
    from timbre.infer import factory
    from timbre.infer.options import SynthesisOptions
    from timbre.infer.reference import ReferenceClip
    from timbre.models.sovits import SoVITSConfig, SynthesizerTrn
    from timbre.models.sv import ERes2NetV2
    from timbre.train import tiny

    narrow = {k: getattr(tiny.tiny_sovits_config(), k) for k in ("filter_channels", "n_layers", "upsample_rates",
              "upsample_kernel_sizes", "upsample_initial_channel", "resblock_kernel_sizes",
              "resblock_dilation_sizes", "n_layers_q", "segment_size_samples")}  # fmt: skip
    cfg = replace(SoVITSConfig.for_version("v2Pro"), **narrow)
    sovits = load_deterministic(SynthesizerTrn(cfg), 5)
    pretrained = write_torch_file(
        {"weight": sovits.state_dict(), "config": cfg.to_original(), "info": "pretrained"},
        tmp_path / "s2Gv2Pro-tiny.pth",
        VERSION_MARKERS["v2Pro"],
    )
    torch.manual_seed(0)
    sv = tmp_path / "pretrained_eres2netv2w24s4ep4.ckpt"
    torch.save(ERes2NetV2().state_dict(), sv)
    threads = torch.get_num_threads()
    try:
        _fine_tune(dataset, tmp_path, sv=sv, **(tiny_pretrained | {"pretrained_sovits": pretrained}))
        voice = tmp_path / "voice"
        assert (voice / "spectrogram.png").is_file() and (voice / "sv.ckpt").read_bytes() == sv.read_bytes()
        synth = factory.from_voice(voice)  # no --sv: the voice carries its speaker-verification model
        reference = synth.prepare_reference(ReferenceClip.load(voice / "reference.wav"), "你好", "zh")
        result = synth.synthesize("你好。", "zh", reference, SynthesisOptions(seed=1, max_new_tokens=8))
    finally:
        torch.set_num_threads(threads)
    assert synth.sovits.cfg.version == "v2Pro" and result.audio.size > 0


def test_auto_batch_size_probes_until_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from timbre.models.gpt import Text2SemanticDecoder
    from timbre.train import autobatch
    from timbre.train.data import GPTItem
    from timbre.train.tiny import tiny_gpt

    model = tiny_gpt(0)
    original = Text2SemanticDecoder.forward
    sizes: list[int] = []

    def limited(self, phone_ids, *args):  # type: ignore[no-untyped-def]
        sizes.append(phone_ids.shape[0])
        if phone_ids.shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return original(self, phone_ids, *args)

    monkeypatch.setattr(Text2SemanticDecoder, "forward", limited)
    items = [GPTItem(torch.randint(1, 732, (5,)), torch.zeros(1024, 5), torch.randint(0, 1024, (8,)))] * 3
    assert autobatch.probe(autobatch.gpt_probe(model, items, torch.device("cpu"), "fp32"), limit=64) == 4
    assert sizes == [1, 2, 4, 8]
    assert all(p.grad is None for p in model.parameters())  # probing leaves no gradients behind


def test_a_list_from_the_original_webui_with_wav_dir(dataset: Path, tmp_path: Path) -> None:
    """Absolute Windows paths from the machine that made the list: found by name in --wav-dir."""
    from timbre.train.inputs import check_dataset

    data = _copy_dataset(dataset, tmp_path / "data")
    lines = (data / "dataset.list").read_text(encoding="utf-8").splitlines()
    foreign = [line.replace("wavs/", "D:\\GPT-SoVITS\\output\\slicer_opt\\", 1) for line in lines]
    (data / "dataset.list").write_text("\n".join(foreign) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="do not exist.*tiny_000.wav.*--wav-dir"):
        check_dataset(data)
    summary = check_dataset(data, data / "wavs")
    assert [s.wav for s in summary.segments] == sorted((data / "wavs").resolve().glob("*.wav"))
    assert [s.name for s in summary.segments] == ["tiny_000", "tiny_001", "tiny_002", "tiny_003"]
    with pytest.raises(ValueError, match="--wav-dir: folder not found"):
        TrainOptions(dataset_dir=data, out_dir=tmp_path / "v", config="tiny", wav_dir=tmp_path / "nope")


def test_the_default_reference_is_a_segment_synthesis_accepts(tmp_path: Path) -> None:
    """Closest to 5 s among the 3-10 s segments; none (and no reference in the voice) when no segment fits."""
    import json

    from timbre.train.export import pick_reference

    (tmp_path / "features").mkdir()
    entries = []
    for name, seconds in (("long", 12.0), ("short", 2.0), ("seven", 7.0), ("four", 4.0)):
        sf.write(tmp_path / f"{name}.wav", np.zeros(int(seconds * 32000), np.int16), 32000)
        entries.append({"name": name, "wav": f"{name}.wav", "text": name, "lang": "en"})
    (tmp_path / "features" / "index.json").write_text(json.dumps({"segments": entries}), encoding="utf-8")
    assert pick_reference(tmp_path, ["long", "short", "seven", "four"])["name"] == "four"
    assert pick_reference(tmp_path, ["long", "short", "seven"])["name"] == "seven"
    assert pick_reference(tmp_path, ["long", "short"]) is None


def test_a_voice_folder_in_use_by_another_run_is_refused(dataset: Path, tmp_path: Path) -> None:
    from timbre.files import exclusive_dir

    with exclusive_dir(tmp_path / "voice", "timbre train"):  # another `timbre train` writing there
        with pytest.raises(ValueError, match="in use by another timbre train"):
            _train(dataset, tmp_path / "voice", config="tiny")


def test_a_dataset_that_timbre_prepare_is_writing_is_refused(dataset: Path, tmp_path: Path) -> None:
    from timbre.files import exclusive_dir

    with exclusive_dir(dataset, "timbre prepare"):  # `timbre prepare` still writing the dataset
        with pytest.raises(ValueError, match="is being written by timbre prepare; wait for it to finish"):
            _train(dataset, tmp_path / "voice", config="tiny")
    assert not (tmp_path / "voice").exists()


def test_the_voice_folder_must_be_its_own(dataset: Path, tmp_path: Path) -> None:
    """Not the dataset folder (the voice's files would mix with the dataset's) nor inside the HuBERT folder (which is
    copied into the voice)."""
    with pytest.raises(ValueError, match="is the dataset folder"):
        TrainOptions(dataset_dir=dataset, out_dir=dataset, config="tiny")
    TrainOptions(dataset_dir=dataset, out_dir=dataset / "voice", config="tiny")  # beside the features: fine
    with pytest.raises(ValueError, match="inside the --hubert folder"):
        TrainOptions(
            dataset_dir=dataset, out_dir=tmp_path / "hubert" / "v", config="tiny", hubert=tmp_path / "hubert"
        )


def test_the_tiny_sovits_starts_from_a_standard_normal_latent_and_varied_codes() -> None:
    """Its prior and posterior start at N(0, 1) and its flow at identity, so the first KL loss is small (straight from
    the deterministic generator it was 1e11-1e21 and its gradient overflowed); its quantizer still gives varied codes
    for the tiny GPT to learn."""
    from tests.helpers.tiny_train import tiny_sovits_items

    from timbre.models.losses import kl_loss
    from timbre.train import tiny
    from timbre.train.data import collate_sovits

    model = tiny.tiny_sovits(0)
    batch = collate_sovits(tiny_sovits_items(2))
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(batch.ssl, batch.spec, batch.spec_lengths, batch.text, batch.text_lengths, batch.sv_emb)
        kl = float(kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask))
        codes = model.extract_latent(batch.ssl)
    assert not out.logs_p.any() and not out.m_p.any() and not out.logs_q.any()
    assert abs(kl) < 1.0
    assert torch.unique(codes).numel() >= 8
