"""`timbre bench sovits`: SoVITS decode speed on deterministic weights (10 s of audio by default).

The model is prepared as users get it (`prepare_for_inference`: weight norm folded, channels-last decoder, bf16
decoder convolutions by default) and called under `inference_mode`; timing covers the whole `decode` (style
encoder, prior encoder, flow, vocoder), median of `--runs` runs after one warm-up. For bf16 the SNR of a short decode
against fp32 is printed alongside. Compare with ../shared/bench/calib.py (`hifigan_s`) run beside it.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Annotated

import typer

from timbre.cli._app import console
from timbre.cli.bench import bench_app

DEFAULT_PRECISION = "bf16"
FRAMES_PER_S = 25  # semantic tokens per second; decode gives 2 * 640 samples per token at 32 kHz


def _inputs(seconds: float, version: str):
    import torch

    g = torch.Generator().manual_seed(0)
    n_codes = max(1, round(seconds * FRAMES_PER_S))
    codes = torch.randint(0, 1024, (1, 1, n_codes), generator=g)
    text = torch.randint(1, 322 if version == "v1" else 732, (1, max(1, round(seconds * 10))), generator=g)
    refer = torch.rand(1, 1025, 150, generator=g) * 4  # 3 s reference spectrogram
    sv_emb = torch.randn(1, 20480, generator=g) if version in ("v2Pro", "v2ProPlus") else None
    return codes, text, refer, sv_emb


def run_sovits_bench(
    threads: int, precision: str, seconds: float, runs: int, version: str
) -> dict[str, float | str | int]:
    import torch

    from timbre.compat.detweights import load_deterministic
    from timbre.models.sovits import SoVITSConfig, SynthesizerTrn

    if threads < 1 or runs < 1 or seconds <= 0:
        raise ValueError("--threads and --runs must be >= 1 and --seconds > 0")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"--precision must be fp32 or bf16, not {precision!r}")
    torch.set_num_threads(threads)
    model = SynthesizerTrn(SoVITSConfig.for_version(version))
    load_deterministic(model, 0)
    figures: dict[str, float | str | int] = {"precision": precision, "threads": threads, "version": version}

    s_codes, s_text, s_refer, s_sv = _inputs(2.0, version)
    if precision == "bf16":  # quality check on a short clip: bf16 decoder against fp32
        model.prepare_for_inference("fp32")
        ref = model.decode(s_codes, s_text, s_refer, noise_scale=0.0, sv_emb=s_sv)
        model.prepare_for_inference("bf16")
        got = model.decode(s_codes, s_text, s_refer, noise_scale=0.0, sv_emb=s_sv)
        figures["snr_db"] = float(10 * torch.log10(ref.pow(2).sum() / (got - ref).pow(2).sum()))
    else:
        model.prepare_for_inference("fp32")
        model.decode(s_codes, s_text, s_refer, noise_scale=0.0, sv_emb=s_sv)  # warm-up

    codes, text, refer, sv_emb = _inputs(seconds, version)
    model.decode(codes, text, refer, sv_emb=sv_emb)  # warm-up at full size
    times = []
    audio_s = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        audio = model.decode(codes, text, refer, sv_emb=sv_emb)
        times.append(time.perf_counter() - started)
        audio_s = audio.shape[-1] / model.cfg.sampling_rate
    elapsed = statistics.median(times)
    figures.update({"rtf": elapsed / audio_s, "audio_s": audio_s, "seconds": elapsed})
    return figures


@bench_app.command("sovits")
def bench_sovits(
    threads: Annotated[int, typer.Option(help="torch CPU threads")] = 2,
    precision: Annotated[str, typer.Option(help="fp32 or bf16 decoder convolutions")] = DEFAULT_PRECISION,
    seconds: Annotated[float, typer.Option(help="audio length to decode")] = 10.0,
    runs: Annotated[int, typer.Option(help="timed runs (median reported)")] = 3,
    version: Annotated[str, typer.Option(help="v1, v2, v2Pro or v2ProPlus")] = "v2",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Real-time factor of one SoVITS decode, the configuration users get by default."""
    figures = run_sovits_bench(threads, precision, seconds, runs, version)
    if as_json:
        print(json.dumps(figures))
        return
    snr = f", SNR vs fp32 {figures['snr_db']:.1f} dB" if "snr_db" in figures else ""
    console.print(
        f"SoVITS {version} decode: {figures['seconds']:.3f} s for {figures['audio_s']:.1f} s of audio, "
        f"RTF {figures['rtf']:.3f} ({precision}, {threads} threads{snr})"
    )
