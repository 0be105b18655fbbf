"""`timbre train` (one-command few-shot training into a voice folder) and `timbre slurm` (the same on a cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from timbre.cli._app import app, console

DatasetArg = Annotated[
    Path, typer.Argument(help="Dataset folder written by `timbre prepare` (wavs/ + .list).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Voice folder to write (what `timbre synth --voice` loads).")
]
ConfigOpt = Annotated[
    str,
    typer.Option(
        help="default: fine-tune the pretrained models; tiny: tiny models, no files needed (CPU demo)."
    ),
]
GptOpt = Annotated[Path | None, typer.Option("--pretrained-gpt", help="Pretrained GPT .ckpt (v2).")]
SovitsOpt = Annotated[
    Path | None, typer.Option("--pretrained-sovits", help="Pretrained SoVITS generator .pth.")
]
SovitsDOpt = Annotated[
    Path | None,
    typer.Option(
        "--pretrained-sovits-d", help="Pretrained discriminator .pth (default: s2D* beside the s2G* file)."
    ),
]
HubertOpt = Annotated[
    Path | None, typer.Option(help="HuBERT folder (chinese-hubert-base, Hugging Face format).")
]
RobertaOpt = Annotated[
    Path | None, typer.Option(help="Chinese RoBERTa folder (needed for Chinese transcripts).")
]
SvOpt = Annotated[Path | None, typer.Option(help="Speaker-verification model (v2Pro/v2ProPlus).")]
StageOpt = Annotated[str, typer.Option(help="all, sovits (stage 1 only) or gpt (stage 2 only).")]
EpochsSovitsOpt = Annotated[int | None, typer.Option(help="SoVITS epochs (default 8; tiny 2).")]
EpochsGptOpt = Annotated[int | None, typer.Option(help="GPT epochs (default 15; tiny 4).")]
BatchOpt = Annotated[
    str | None,
    typer.Option(help="Batch size, or 'auto' (largest that fits on the GPU); default: sized to the data."),
]
AccumOpt = Annotated[int, typer.Option(help="Gradient accumulation (batches per optimizer step).")]
GradClipOpt = Annotated[
    float | None,
    typer.Option(
        help="Clip the gradient norm of both stages (0: off; default as the original: SoVITS off, GPT 1.0; tiny: 1.0)."
    ),
]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, bf16 or fp16 (autocast; fp16 with a grad scaler).")]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume", help="Continue an interrupted run from its checkpoints (finished stages are skipped)."
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Train again stages that --out already holds (trained or interrupted); their checkpoints are removed "
        "and the voice's weights replaced when the new run finishes.",
    ),
]
WavDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Folder of the listed audio files, found by file name where the list's paths do not exist "
        "(a list written by the original's WebUI on another machine)."
    ),
]
GptOptimizerOpt = Annotated[
    str,
    typer.Option(
        help="GPT optimizer: adamw (warmup + cosine decay, gradient norm clipped at 1.0) or scaled-adam (the "
        "original's: ScaledAdam at 0.01 for the first step and 0.002 after, its own clipping; with --stage gpt, add --accum 4 for "
        "the original's steps every 4 batches)."
    ),
]
LoraOpt = Annotated[
    int, typer.Option(help="LoRA rank (0: full fine-tuning); merged into the exported weights.")
]


def _batch(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--batch-size must be a number or 'auto', got {value!r}") from None


@app.command("train")
def train(
    dataset: DatasetArg,
    out: OutOpt = None,
    wav_dir: WavDirOpt = None,
    config: ConfigOpt = "default",
    pretrained_gpt: GptOpt = None,
    pretrained_sovits: SovitsOpt = None,
    pretrained_sovits_d: SovitsDOpt = None,
    hubert: HubertOpt = None,
    roberta: RobertaOpt = None,
    sv: SvOpt = None,
    stage: StageOpt = "all",
    epochs_sovits: EpochsSovitsOpt = None,
    epochs_gpt: EpochsGptOpt = None,
    batch_size: BatchOpt = None,
    accum: AccumOpt = 1,
    grad_clip: GradClipOpt = None,
    precision: PrecisionOpt = "fp32",
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    lora_rank: LoraOpt = 0,
    lora_alpha: Annotated[float | None, typer.Option(help="LoRA alpha (default 2 x rank).")] = None,
    gpt_optimizer: GptOptimizerOpt = "adamw",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    compile: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="torch.compile the models (a GPU option: compiling takes minutes; on the CPU it measured slower).",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1234,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N optimizer steps (0: epoch ends).")] = 0,
    keep_checkpoints: Annotated[
        bool, typer.Option("--keep-checkpoints", help="Keep the training checkpoints after a stage finishes.")
    ] = False,
    copy_hubert: Annotated[
        bool,
        typer.Option(
            "--copy-hubert/--no-copy-hubert",
            help="Copy the HuBERT folder (and the --sv model of a v2Pro voice) into the voice.",
        ),
    ] = True,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's; tiny: 1).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Fine-tune a voice on a prepared dataset: features, SoVITS (stage 1), GPT (stage 2), voice folder."""
    from timbre.train.recipe import TrainOptions, train_voice

    if out is None:
        raise ValueError("give the voice folder to write with --out VOICE_DIR")
    opts = TrainOptions(
        dataset_dir=dataset,
        out_dir=out,
        wav_dir=wav_dir,
        config=config,
        pretrained_gpt=pretrained_gpt,
        pretrained_sovits=pretrained_sovits,
        pretrained_sovits_d=pretrained_sovits_d,
        hubert=hubert,
        roberta=roberta,
        sv=sv,
        stage=stage,
        epochs_sovits=epochs_sovits,
        epochs_gpt=epochs_gpt,
        batch_size=_batch(batch_size),
        accum=accum,
        grad_clip=grad_clip,
        precision=precision,
        resume=resume,
        overwrite=overwrite,
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        gpt_optimizer=gpt_optimizer,
        device=device,
        num_workers=num_workers,
        compile=compile,
        seed=seed,
        save_every=save_every,
        keep_checkpoints=keep_checkpoints,
        copy_hubert=copy_hubert,
        threads=threads,
        progress=not quiet,
    )
    result = train_voice(opts)
    for name, reason in result.extraction.failures.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}", highlight=False)
    trained = " + ".join(result.trained) or "nothing (already done)"
    fewer = "".join(
        f"; {stage} on {n} of them" for stage, n in result.used.items() if n < result.segments
    )  # the rest were left out by the stage's selection (warned about above)
    console.print(
        f"trained {trained} on {result.segments} segments ({result.seconds:.1f} s{fewer}) -> voice folder {out}",
        highlight=False,
    )


def _flag(name: str, value: Any) -> list[str]:
    if value is None or value is False:
        return []
    if value is True:
        return [name]
    return [name, str(Path(value).resolve()) if isinstance(value, Path) else str(value)]


@app.command("slurm")
def slurm(
    dataset: DatasetArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The sbatch script to write.")],
    nodes: Annotated[int, typer.Option(help="Nodes.")] = 1,
    gpus_per_node: Annotated[int, typer.Option(help="GPUs per node (one training process each).")] = 1,
    partition: Annotated[str | None, typer.Option(help="Slurm partition.")] = None,
    time: Annotated[str, typer.Option(help="Wall-time limit, HH:MM:SS or D-HH:MM:SS.")] = "24:00:00",
    cpus_per_task: Annotated[int, typer.Option(help="CPUs per node task.")] = 8,
    job_name: Annotated[str, typer.Option(help="Job name.")] = "timbre-train",
    python: Annotated[str, typer.Option(help="Python interpreter on the cluster.")] = "python",
    port: Annotated[int, typer.Option(help="Rendezvous port on the first node.")] = 29500,
    out: OutOpt = None,
    wav_dir: WavDirOpt = None,
    config: ConfigOpt = "default",
    pretrained_gpt: GptOpt = None,
    pretrained_sovits: SovitsOpt = None,
    pretrained_sovits_d: SovitsDOpt = None,
    hubert: HubertOpt = None,
    roberta: RobertaOpt = None,
    sv: SvOpt = None,
    stage: StageOpt = "all",
    epochs_sovits: EpochsSovitsOpt = None,
    epochs_gpt: EpochsGptOpt = None,
    batch_size: BatchOpt = None,
    accum: AccumOpt = 1,
    grad_clip: GradClipOpt = None,
    precision: PrecisionOpt = "bf16",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="The job continues the run it finds in --out (so that a resubmitted or requeued job picks up where "
            "the last one stopped); --no-resume refuses a folder that holds one.",
        ),
    ] = True,
    lora_rank: LoraOpt = 0,
    gpt_optimizer: GptOptimizerOpt = "adamw",
) -> None:
    """Write an sbatch script running `timbre train` on N nodes x G GPUs (srun + torchrun, c10d rendezvous)."""
    from timbre.train.recipe import TrainOptions
    from timbre.train.slurm import SlurmConfig, sbatch_script

    if out is None:
        raise ValueError("give the voice folder the job writes with --out VOICE_DIR")
    TrainOptions(  # the same checks as `timbre train` (missing pretrained files, bad stage …) before writing
        dataset_dir=dataset, out_dir=out, config=config, pretrained_gpt=pretrained_gpt,
        pretrained_sovits=pretrained_sovits, hubert=hubert, stage=stage, batch_size=_batch(batch_size),
        accum=accum, grad_clip=grad_clip, precision=precision, resume=resume, lora_rank=lora_rank,
        gpt_optimizer=gpt_optimizer,
    )  # fmt: skip
    cfg = SlurmConfig(
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        time=time,
        job_name=job_name,
        partition=partition,
        port=port,
        python=python,
    )
    args = [str(dataset.resolve()), "--quiet"]
    for name, value in (
        ("--out", out),
        ("--wav-dir", wav_dir),
        ("--config", config),
        ("--pretrained-gpt", pretrained_gpt),
        ("--pretrained-sovits", pretrained_sovits),
        ("--pretrained-sovits-d", pretrained_sovits_d),
        ("--hubert", hubert),
        ("--roberta", roberta),
        ("--sv", sv),
        ("--stage", stage),
        ("--epochs-sovits", epochs_sovits),
        ("--epochs-gpt", epochs_gpt),
        ("--batch-size", batch_size),
        ("--accum", accum),
        ("--grad-clip", grad_clip),
        ("--precision", precision),
        ("--resume", resume),
        ("--lora-rank", lora_rank or None),
        ("--gpt-optimizer", None if gpt_optimizer == "adamw" else gpt_optimizer),
    ):
        args += _flag(name, value)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(sbatch_script(args, cfg, output.parent.resolve()), encoding="utf-8")
    console.print(
        f"wrote {output}: {nodes} node(s) x {gpus_per_node} GPU(s); submit with `sbatch {output}`",
        highlight=False,
    )
