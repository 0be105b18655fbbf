"""`timbre train` as a function: check inputs → extract features → stage 1 (SoVITS) → stage 2 (GPT) → voice folder.

Few-shot defaults follow the original WebUI for about a minute of speech (SoVITS 8 epochs, GPT 15 epochs, batch
sized to the data), with the original's choice of segments per stage and its repetition of a small dataset within an
epoch (`timbre.train.selection`). `config="tiny"` swaps the pretrained files for the tiny deterministic models of
`timbre.train.tiny` (and writes a tiny HuBERT into the voice folder), so the same recipe runs on CPU in seconds.

Training state lives in `VOICE_DIR/training/` (metrics CSV, TensorBoard, resumable checkpoints, `stages.json`); a
stage that finished is skipped on `--resume`. Under torchrun rank 0 extracts features first (the others then find them
up to date and only read them), every rank trains, and rank 0 alone writes the voice folder.
"""

from __future__ import annotations

import re
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from timbre.compat.versions import file_head_hash
from timbre.errors import TimbreError
from timbre.features.dataset import ExtractionReport, Extractors, extract_dataset
from timbre.features.hubert import HubertExtractor, HubertOptions
from timbre.features.loading import load_segment
from timbre.features.roberta import RobertaPhoneFeatures
from timbre.features.speaker import load_speaker_model
from timbre.files import exclusive_dir, remove_stale_temp_files, shared_dir
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.sovits import PRO_VERSIONS, SynthesizerTrn
from timbre.train import autobatch, export, tiny
from timbre.train.checkpoints import CheckpointManager
from timbre.train.data import HOP, GPTItem, SoVITSItem
from timbre.train.distributed import DistEnv, distributed, main_rank_first, min_over_ranks
from timbre.train.gpt_trainer import GPT_OPTIMIZERS, GPTTrainConfig, train_gpt
from timbre.train.inputs import (
    DatasetSummary,
    check_dataset,
    check_model_dirs,
    check_text_features,
    load_pretrained,
)
from timbre.train.loop import RunConfig
from timbre.train.lora import LoRAConfig
from timbre.train.precision import PRECISIONS
from timbre.train.selection import ORIGINAL, Selection, select_gpt, select_sovits
from timbre.train.sovits_trainer import SoVITSTrainConfig, train_sovits
from timbre.train.stages import (
    checkpoint_dir,
    claim_voice_dir,
    clear_stages,
    stage_progress,
    stage_state,
    training_dir,
)

STAGES = ("all", "sovits", "gpt")
STAGE_ORDER = ("sovits", "gpt")
CONFIGS = ("default", "tiny")
SOVITS_LORA_TARGETS = ("enc_p.*.weight", "flow.*.weight", "flow.*.weight_v")


@dataclass(frozen=True)
class Defaults:
    epochs_sovits: int
    epochs_gpt: int
    max_batch: int
    lr_sovits: float
    lr_gpt: float
    steps_per_epoch: int  # the batch size is chosen to give at least this many steps (up to max_batch)
    sovits_frames: int | None = None  # crop SoVITS items to this many frames (the tiny run's speed-up)
    # SoVITS gradient-norm clipping: None as the original (fine-tuning from its pretrained files); the tiny models
    # start from random weights whose prior gives a KL of ~1e11 at first, and clipping at 1 is what tames it
    sovits_grad_clip: float | None = None
    # which segments each stage trains on and how often an epoch visits them (`timbre.train.selection`)
    selection: Selection = Selection()


FEW_SHOT = Defaults(
    epochs_sovits=8,
    epochs_gpt=15,
    max_batch=8,
    lr_sovits=1e-4,
    lr_gpt=1e-4,
    steps_per_epoch=4,
    selection=ORIGINAL,
)
TINY = Defaults(
    epochs_sovits=2,
    epochs_gpt=4,
    max_batch=2,
    lr_sovits=2e-4,
    lr_gpt=2e-3,
    steps_per_epoch=2,
    sovits_frames=32,
    sovits_grad_clip=1.0,
)


@dataclass(frozen=True)
class TrainOptions:
    dataset_dir: Path
    out_dir: Path  # the voice folder
    # where the list's audio files are, by file name, when the paths it gives do not exist (the original's "wav dir")
    wav_dir: Path | None = None
    config: str = "default"  # default | tiny
    pretrained_gpt: Path | None = None
    pretrained_sovits: Path | None = None
    pretrained_sovits_d: Path | None = None
    hubert: Path | None = None
    roberta: Path | None = None
    sv: Path | None = None
    stage: str = "all"  # all | sovits | gpt
    epochs_sovits: int | None = None
    epochs_gpt: int | None = None
    batch_size: int | str | None = None  # None: sized to the data; "auto": largest that fits (CUDA)
    accum: int = 1
    # gradient-norm clipping; None: the defaults (as the original: SoVITS unclipped, GPT 1.0; tiny: 1.0 for both);
    # 0: off; > 0: both stages
    grad_clip: float | None = None
    precision: str = "fp32"
    resume: bool = False
    overwrite: bool = False  # train stages the voice folder already holds (or was interrupted in) again
    lora_rank: int = 0  # 0: full fine-tuning
    lora_alpha: float | None = None  # default 2 × rank
    # adamw | scaled-adam (the original's; its GPT gradients are then not norm-clipped)
    gpt_optimizer: str = "adamw"
    device: str = "auto"
    num_workers: int = 0
    compile: bool = False
    seed: int = 1234
    save_every: int = 0
    keep_checkpoints: bool = False
    progress: bool = True
    threads: int | None = None  # CPU threads for torch; the tiny config defaults to 1 (its ops are small)
    copy_hubert: bool = (
        True  # copy the HuBERT folder into the voice (self-contained; else synth needs --hubert)
    )

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise TimbreError(f"--stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.config not in CONFIGS:
            raise TimbreError(f"--config must be one of {', '.join(CONFIGS)}, got {self.config!r}")
        if isinstance(self.batch_size, str) and self.batch_size != "auto":
            raise TimbreError(f"--batch-size must be a number or 'auto', got {self.batch_size!r}")
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise TimbreError("--batch-size must be at least 1")
        if self.precision not in PRECISIONS:
            raise TimbreError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise TimbreError(f"--device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.wav_dir is not None and not self.wav_dir.is_dir():
            raise TimbreError(f"--wav-dir: folder not found: {self.wav_dir}")
        out = self.out_dir.resolve()
        if out == self.dataset_dir.resolve():  # its files would mix with the dataset's
            raise TimbreError(
                f"--out {self.out_dir} is the dataset folder: give the voice a folder of its own"
            )
        if self.hubert is not None and (out == self.hubert.resolve() or self.hubert.resolve() in out.parents):
            raise TimbreError(  # the HuBERT folder is copied into the voice
                f"--out {self.out_dir} is inside the --hubert folder {self.hubert}: give the voice a folder of its own"
            )
        if self.resume and self.overwrite:
            raise TimbreError(
                "--resume continues an earlier run and --overwrite discards it: pass one of them"
            )
        if self.lora_rank < 0 or self.accum < 1:
            raise TimbreError("--lora-rank must be >= 0 and --accum >= 1")
        if self.gpt_optimizer not in GPT_OPTIMIZERS:
            raise TimbreError(
                f"--gpt-optimizer must be one of {', '.join(GPT_OPTIMIZERS)}, got {self.gpt_optimizer!r}"
            )
        if self.grad_clip is not None and not self.grad_clip >= 0:
            raise TimbreError(f"--grad-clip must be 0 (off) or a positive norm, got {self.grad_clip}")
        if self.config == "default":
            needed = {"--pretrained-gpt": self.pretrained_gpt, "--pretrained-sovits": self.pretrained_sovits}
            needed["--hubert"] = self.hubert
            missing = [flag for flag, value in needed.items() if value is None]
            if missing:
                raise TimbreError(
                    f"missing {', '.join(missing)}: training starts from the original pretrained models "
                    "(or use --config tiny for a quick CPU run with tiny models)"
                )

    @property
    def defaults(self) -> Defaults:
        return TINY if self.config == "tiny" else FEW_SHOT


@dataclass
class Models:
    sovits: SynthesizerTrn
    discriminator: nn.Module
    gpt: Text2SemanticDecoder
    sovits_config: dict[str, Any]  # the original-format config written into the exported .pth
    gpt_config: dict[str, Any]
    version: str  # SoVITS version
    identity: str  # names the pretrained SoVITS in the semantic-token cache key


@dataclass
class TrainResult:
    voice_dir: Path
    segments: int
    seconds: float
    extraction: ExtractionReport
    trained: list[str] = field(default_factory=list)  # stages trained in this run
    used: dict[str, int] = field(default_factory=dict)  # stage -> segments it trained on (its selection's)
    files: dict[str, Path] = field(default_factory=dict)


def build_models(opts: TrainOptions) -> Models:
    if opts.config == "tiny":
        sovits_cfg = tiny.tiny_sovits_config()
        return Models(
            tiny.tiny_sovits(opts.seed),
            tiny.tiny_discriminator(opts.seed),
            tiny.tiny_gpt(opts.seed),
            sovits_cfg.to_original(),
            tiny.TINY_GPT.to_original(),
            sovits_cfg.version,
            f"tiny-sovits-seed{opts.seed}",
        )
    from timbre.compat.build import build_model
    from timbre.compat.versions import file_head_hash
    from timbre.models.discriminators import MultiPeriodDiscriminator

    assert opts.pretrained_sovits is not None and opts.pretrained_gpt is not None
    pre = load_pretrained(opts.pretrained_sovits, opts.pretrained_gpt, opts.pretrained_sovits_d)
    if pre.sovits.version in ("v2Pro", "v2ProPlus") and opts.sv is None:
        raise TimbreError(
            f"SoVITS {pre.sovits.version} training needs speaker-verification embeddings: pass --sv with the "
            "original's pretrained_eres2netv2w24s4ep4.ckpt"
        )
    discriminator = MultiPeriodDiscriminator(pre.sovits.version)
    if pre.discriminator is not None:
        discriminator.load_state_dict(pre.discriminator)
    return Models(
        build_model(pre.sovits),  # type: ignore[arg-type]
        discriminator,
        build_model(pre.gpt),  # type: ignore[arg-type]
        pre.sovits.config,
        pre.gpt.config,
        pre.sovits.version,
        file_head_hash(pre.sovits_path),
    )


def load_hubert(opts: TrainOptions, device: torch.device) -> tuple[HubertExtractor, Path]:
    options = HubertOptions(device=str(device), precision="bf16" if opts.precision != "fp32" else "fp32")
    if opts.config == "tiny":
        folder = training_dir(opts.out_dir) / "tiny-hubert"
        if not (folder / "config.json").is_file():
            tiny.save_tiny_hubert(folder, opts.seed)
        return HubertExtractor.from_folder(folder, options), folder
    assert opts.hubert is not None
    return HubertExtractor.from_folder(opts.hubert, options), opts.hubert.resolve()


def load_items(
    dataset_dir: Path, names: list[str], sovits_frames: int | None = None
) -> tuple[list[SoVITSItem], list[GPTItem]]:
    """Training items of the extracted segments; `sovits_frames` keeps only the start of the SoVITS items."""
    sovits_items, gpt_items = [], []
    frames = sovits_frames or 1 << 30
    for name in names:
        f = load_segment(dataset_dir, name)
        phones = torch.from_numpy(f.phone_ids).long()
        sv = torch.from_numpy(f.sv_emb) if f.sv_emb is not None else None
        assert f.spec is not None and f.codes is not None
        ssl, spec = torch.from_numpy(f.ssl[:, :frames]), torch.from_numpy(f.spec[:, :frames])
        sovits_items.append(SoVITSItem(ssl, spec, torch.from_numpy(f.audio[: frames * HOP]), phones, sv))
        gpt_items.append(GPTItem(phones, torch.from_numpy(f.bert).float(), torch.from_numpy(f.codes).long()))
    return sovits_items, gpt_items


def extract(opts: TrainOptions, models: Models, device: torch.device) -> tuple[ExtractionReport, Path]:
    hubert, hubert_dir = load_hubert(opts, device)
    roberta = RobertaPhoneFeatures.from_folder(opts.roberta, str(device)) if opts.roberta else None
    models.sovits.to(device).eval()
    extractors = Extractors(
        hubert=hubert,
        roberta=roberta,
        extract_latent=models.sovits.extract_latent,
        sovits_identity=models.identity,
        allow_zero_bert=opts.config == "tiny",
        speaker=load_speaker_model(opts.sv)
        if opts.sv is not None and models.version in PRO_VERSIONS
        else None,
        speaker_identity=f"sv:{file_head_hash(opts.sv)}" if opts.sv is not None else "sv",
    )
    with stage_progress(opts.progress) as progress:
        report = extract_dataset(opts.dataset_dir, extractors, progress=progress, wav_dir=opts.wav_dir)
    models.sovits.cpu()
    if not report.segments:
        reasons = "; ".join(f"{k}: {v}" for k, v in list(report.failures.items())[:3])
        raise TimbreError(f"no segment could be prepared for training ({reasons})")
    return report, hubert_dir


def batch_plan(
    opts: TrainOptions,
    lengths: list[int],
    cap: int,
    probe: autobatch.Probe,
    device: torch.device,
    stage: str | None = None,
) -> tuple[int, int]:
    """(max_batch, max_frames): fixed, probed ("auto", CUDA only) or sized to the data (`steps_per_epoch`). A resumed
    "auto" run keeps the batch its checkpoints were made with (a new probe may find another)."""
    if opts.resume and opts.batch_size == "auto" and stage is not None:
        saved = CheckpointManager(checkpoint_dir(opts.out_dir, stage)).latest_signature() or {}
        if "max_batch" in saved and "max_frames" in saved:
            return int(saved["max_batch"]), int(saved["max_frames"])
    if isinstance(opts.batch_size, int):
        batch = opts.batch_size
    elif opts.batch_size == "auto" and device.type == "cuda":
        # every rank probes its own GPU; all must batch alike (the same steps per epoch, or DDP waits forever)
        batch = min_over_ranks(autobatch.probe(probe, limit=max(1, len(lengths))), device)
    else:
        batch = max(1, min(cap, -(-len(lengths) // opts.defaults.steps_per_epoch)))
    return batch, batch * max(lengths)


def run_config(opts: TrainOptions, epochs: int, batch: tuple[int, int], resume: bool) -> RunConfig:
    return RunConfig(
        out_dir=training_dir(opts.out_dir),
        epochs=epochs,
        max_batch=batch[0],
        max_frames=batch[1],
        accum=opts.accum,
        precision=opts.precision,
        save_every=opts.save_every,
        keep_last=1,
        seed=opts.seed,
        num_workers=opts.num_workers,
        compile=opts.compile,
        resume=resume,
        device=opts.device,
        progress=opts.progress,
    )


def lora(opts: TrainOptions, targets: tuple[str, ...] | None) -> LoRAConfig | None:
    if not opts.lora_rank:
        return None
    alpha = opts.lora_alpha if opts.lora_alpha is not None else 2.0 * opts.lora_rank
    base = LoRAConfig(rank=opts.lora_rank, alpha=alpha)
    return replace(base, targets=targets) if targets else base


def _grad_clip(opts: TrainOptions, default: float | None) -> float | None:
    """--grad-clip for one stage: unset keeps the stage's default, 0 turns clipping off."""
    return default if opts.grad_clip is None else opts.grad_clip or None


def sovits_config(opts: TrainOptions) -> SoVITSTrainConfig:
    clip = _grad_clip(opts, opts.defaults.sovits_grad_clip)
    return SoVITSTrainConfig(lr=opts.defaults.lr_sovits, grad_clip=clip, lora=lora(opts, SOVITS_LORA_TARGETS))


def gpt_config(opts: TrainOptions) -> GPTTrainConfig:
    original = opts.gpt_optimizer == "scaled-adam"  # which clips by its own rule, as in the original
    clip = _grad_clip(opts, None if original else GPTTrainConfig.grad_clip)
    return GPTTrainConfig(
        lr=opts.defaults.lr_gpt,
        grad_clip=clip,
        lora=lora(opts, None),
        optimizer="scaled-adam" if original else "adamw",
    )


def train_voice(opts: TrainOptions) -> TrainResult:
    """Run the whole recipe; returns what was done and the files written."""
    env = DistEnv.from_environ()
    # no run reads a dataset that `timbre prepare` is still writing (under torchrun the main process checks for all)
    busy = f"{opts.dataset_dir} is being written by timbre prepare; wait for it to finish"
    reading = env.is_main and opts.dataset_dir.is_dir()
    with shared_dir(opts.dataset_dir, "timbre train", busy) if reading else nullcontext():
        return _train_voice(opts, env)


def _train_voice(opts: TrainOptions, env: DistEnv) -> TrainResult:
    summary: DatasetSummary = check_dataset(opts.dataset_dir, opts.wav_dir)
    check_model_dirs(opts.hubert, opts.roberta)
    if opts.config != "tiny":
        check_text_features(summary.segments, opts.roberta)
    if opts.device.startswith("cuda") and not torch.cuda.is_available():
        raise TimbreError(
            f"--device {opts.device} was requested but no CUDA GPU is available (use auto or cpu)"
        )
    # one run at a time writes a voice folder (under torchrun the main process holds it for all)
    with exclusive_dir(opts.out_dir, "timbre train") if env.is_main else nullcontext():
        stages = STAGE_ORDER if opts.stage == "all" else (opts.stage,)
        earlier = claim_voice_dir(opts.out_dir, stages, opts.resume, opts.overwrite)
        if env.is_main:  # what killed runs left mid-write (a checkpoint is hundreds of MB)
            remove_stale_temp_files(opts.out_dir, held=True)
        threads = opts.threads or (1 if opts.config == "tiny" else None)
        if threads:
            torch.set_num_threads(threads)
        models = build_models(opts)
        device = env.device(prefer_cuda=opts.device != "cpu")
        # under torchrun every rank checked the folder; one removes what --overwrite discards
        if env.is_main:
            clear_stages(opts.out_dir, earlier)
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        with distributed(env, device):  # one process group for extraction and both stages
            return _train_stages(opts, summary, models, env, device)


def _train_stages(
    opts: TrainOptions, summary: DatasetSummary, models: Models, env: DistEnv, device: torch.device
) -> TrainResult:
    # under torchrun rank 0 extracts and writes; the other ranks then find every feature up to date
    report, hubert_dir = main_rank_first(env, device, lambda: extract(opts, models, device))
    sovits_items, gpt_items = load_items(opts.dataset_dir, report.segments, opts.defaults.sovits_frames)
    state = stage_state(opts.out_dir)
    result = TrainResult(opts.out_dir, len(report.segments), summary.seconds, report)
    d = opts.defaults

    if opts.stage in ("all", "sovits") and not (opts.resume and state.done("sovits")):
        if env.is_main:
            state.set("sovits", False)
        sovits_items = select_sovits(report.segments, sovits_items, d.selection, env.is_main)
        result.used["sovits"] = len({id(it) for it in sovits_items})  # distinct: small sets come repeated
        lengths = [it.spec.shape[-1] for it in sovits_items]
        probe = autobatch.sovits_probe(
            models.sovits, models.discriminator, sovits_items, device, opts.precision
        )
        run = run_config(
            opts,
            opts.epochs_sovits or d.epochs_sovits,
            batch_plan(opts, lengths, d.max_batch, probe, device, "sovits"),
            opts.resume,
        )
        cfg = sovits_config(opts)
        models.sovits = train_sovits(models.sovits, models.discriminator, sovits_items, run, cfg)  # type: ignore[arg-type]
        result.trained.append("sovits")
    elif export.has_trained(opts.out_dir, "sovits"):
        models.sovits = export.load_trained_sovits(opts.out_dir)

    if opts.stage in ("all", "gpt") and not (opts.resume and state.done("gpt")):
        if env.is_main:
            state.set("gpt", False)
        gpt_items = select_gpt(report.segments, gpt_items, d.selection, env.is_main)
        result.used["gpt"] = len({id(it) for it in gpt_items})
        lengths = [len(it.phone_ids) + len(it.semantic) for it in gpt_items]
        probe = autobatch.gpt_probe(models.gpt, gpt_items, device, opts.precision)
        run = run_config(
            opts,
            opts.epochs_gpt or d.epochs_gpt,
            batch_plan(opts, lengths, 2 * d.max_batch, probe, device, "gpt"),
            opts.resume,
        )
        models.gpt = train_gpt(models.gpt, gpt_items, run, gpt_config(opts))
        result.trained.append("gpt")
    elif export.has_trained(opts.out_dir, "gpt"):
        models.gpt = export.load_trained_gpt(opts.out_dir)

    if env.is_main:
        info = {
            "trained_by": "timbre train",
            "config": opts.config,
            "stages": result.trained,
            "segments": result.segments,
            "seconds": round(summary.seconds, 2),
            "roberta": str(opts.roberta.resolve()) if opts.roberta else None,
        }
        # the feature models go into the voice, so that it is self-contained
        copy = opts.copy_hubert or opts.config == "tiny"
        sv = opts.sv if copy and models.sovits.cfg.is_pro else None
        parts = export.VoiceParts(
            models.sovits, models.sovits_config, models.version, models.gpt, models.gpt_config,
            hubert_dir if copy else None, info, sv,
        )  # fmt: skip
        result.files = export.write_voice(opts.out_dir, parts, opts.dataset_dir, report.segments)
        for stage in result.trained:
            state.set(stage, True)
            if not opts.keep_checkpoints:
                shutil.rmtree(checkpoint_dir(opts.out_dir, stage), ignore_errors=True)
    return result
