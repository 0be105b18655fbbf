"""`timbre bench gpt`: GPT decode speed on deterministic weights (50 phones + 75 prompt tokens -> 250 new tokens).

The EOS row of the head is zeroed so that decoding never stops early; timing covers prefill and every step, median of
`--runs` runs after one warm-up. Compare with ../shared/bench/calib.py (`gpt_tok_s`) run beside it.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Annotated

import typer

from timbre.cli._app import console
from timbre.cli.bench import bench_app


def _timed_runs(precision: str, steps: int, runs: int, compile: bool) -> list[float]:
    """Tokens/s of `runs` timed decodes after one short warm-up."""
    import torch

    from timbre.compat.detweights import load_deterministic
    from timbre.infer.gpt_decode import SamplingConfig, decode
    from timbre.infer.gpt_engine import GPTEngine
    from timbre.models.gpt import GPTConfig, Text2SemanticDecoder

    model = Text2SemanticDecoder(GPTConfig.v2()).eval()
    load_deterministic(model, 0, zero_eos_row=True)
    engine = GPTEngine(model, precision, compile=compile)
    g = torch.Generator().manual_seed(0)
    phones = torch.randint(0, model.cfg.phoneme_vocab_size, (50,), generator=g)
    bert = torch.randn(model.cfg.bert_dim, 50, generator=g)
    prompt = torch.randint(0, model.cfg.eos, (75,), generator=g)
    cfg = SamplingConfig(early_stop_num=steps - 1, seed=0)
    decode(engine, phones, bert, prompt, SamplingConfig(early_stop_num=min(steps, 20) - 1, seed=0))
    speeds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = decode(engine, phones, bert, prompt, cfg)
        speeds.append(result.tokens.numel() / (time.perf_counter() - started))
    return speeds


def run_gpt_bench(
    threads: int, precision: str, steps: int, runs: int, compile: bool
) -> dict[str, float | str]:
    """{"tokens_per_s": median over runs, ...}; torch's thread count is restored afterwards."""
    import torch

    if threads < 1 or steps < 1 or runs < 1:
        raise ValueError("--threads, --steps and --runs must be >= 1")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        speeds = _timed_runs(precision, steps, runs, compile)
    finally:
        torch.set_num_threads(previous)
    return {
        "tokens_per_s": statistics.median(speeds),
        "precision": precision,
        "threads": threads,
        "steps": steps,
    }


@bench_app.command("gpt")
def bench_gpt(
    threads: Annotated[int, typer.Option(help="torch CPU threads")] = 2,
    precision: Annotated[
        str, typer.Option(help="fp32, fp16 (default), bf16 or int8 decode-step weights")
    ] = "",
    steps: Annotated[int, typer.Option(help="tokens to generate")] = 250,
    runs: Annotated[int, typer.Option(help="timed runs (median reported)")] = 3,
    compile: Annotated[
        bool, typer.Option("--compile", help="try torch.compile (falls back to eager)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Tokens per second of batch-1 GPT decoding, the configuration users get by default."""
    from timbre.infer.gpt_engine import DEFAULT_PRECISION

    figures = run_gpt_bench(threads, precision or DEFAULT_PRECISION, steps, runs, compile)
    if as_json:
        print(json.dumps(figures))
        return
    console.print(
        f"GPT decode: {figures['tokens_per_s']:.1f} tokens/s "
        f"({figures['precision']}, {threads} threads, 50 phones + 75 prompt -> {steps} tokens)"
    )
