"""`timbre bench features`: HuBERT throughput through the batch engine with 1 caller vs N concurrent callers.

A random HuBERT (built from a config, no download) serves the same set of clips twice: once to a single caller that
submits one clip and waits for it before the next, once to N threads doing the same at the same time. The engine
batches the concurrent requests; the printed ratio is N-caller throughput over 1-caller throughput, measured in one run.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated, Any

import typer

from timbre.cli._app import console
from timbre.cli.bench import bench_app

MODEL_SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
    "small": {
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
    },
    "base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}


def random_hubert(size: str, device: str) -> Any:
    import torch
    from transformers import HubertConfig, HubertModel

    from timbre.features import HubertExtractor, HubertOptions

    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; one of {', '.join(MODEL_SIZES)}")
    conv = 512 if size == "base" else MODEL_SIZES[size]["hidden_size"]
    config = HubertConfig(**MODEL_SIZES[size], conv_dim=(conv,) * 7)
    torch.manual_seed(0)
    options = HubertOptions(device=device, precision="fp16" if device.startswith("cuda") else "fp32")
    return HubertExtractor(HubertModel(config), options)


def _serve(engine: Any, clips: list[Any], callers: int) -> float:
    """Seconds for `callers` threads to get features for every clip, each waiting for its result before the next."""
    lock = threading.Lock()
    position = iter(range(len(clips)))
    failures: list[BaseException] = []

    def caller() -> None:
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            try:
                engine.submit(clips[index]).result()
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                failures.append(exc)
                return

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


def run_benchmark(callers: int, clips: int, size: str, device: str, seed: int = 0) -> dict[str, Any]:
    import torch

    from timbre.features import BatchConfig

    hubert = random_hubert(size, device)
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(16000, 4 * 16000, (clips,), generator=g).tolist()
    audio = [0.1 * torch.randn(n, generator=g) for n in lengths]
    config = BatchConfig(max_batch_size=max(callers, 1), max_batch_tokens=16000 * 4 * callers)
    seconds_of_audio = sum(lengths) / 16000
    rows: dict[str, Any] = {}
    for label, n in (("1", 1), ("N", callers)):
        with hubert.engine(config) as engine:
            _serve(engine, audio[: max(2, n)], n)  # warm-up
            engine.stats.__init__()  # count the measured run only
            elapsed = _serve(engine, audio, n)
            rows[label] = {
                "callers": n,
                "seconds": round(elapsed, 4),
                "clips_per_s": round(clips / elapsed, 3),
                "audio_s_per_s": round(seconds_of_audio / elapsed, 3),
                "mean_batch": round(engine.stats.mean_batch_size, 2),
                "padding": round(engine.stats.padding_fraction, 3),
            }
    return {
        "model": size,
        "hidden_size": hubert.hidden_size,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "clips": clips,
        "audio_seconds": round(seconds_of_audio, 2),
        "single": rows["1"],
        "concurrent": rows["N"],
        "ratio": round(rows["1"]["seconds"] / rows["N"]["seconds"], 3),
    }


@bench_app.command("features")
def bench_features(
    callers: Annotated[int, typer.Option(min=1, help="Concurrent callers in the second run.")] = 8,
    clips: Annotated[int, typer.Option(min=2, help="Clips (1-4 s at 16 kHz) served in each run.")] = 48,
    model: Annotated[
        str, typer.Option(help="Random HuBERT size: tiny, small or base (768 wide, 12 layers).")
    ] = "small",
    device: Annotated[str, typer.Option(help="cpu or cuda[:i].")] = "cpu",
    threads: Annotated[int, typer.Option(help="torch intra-op threads (0: leave as is).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """HuBERT feature throughput with 1 vs N concurrent callers of the batch engine, printed as a ratio."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    result = run_benchmark(callers, clips, model, device)
    if as_json:
        console.print_json(json.dumps(result))
        return
    from rich.table import Table

    table = Table(title=f"HuBERT ({model}, {result['hidden_size']} wide) on {device}, {clips} clips")
    for column in ("callers", "seconds", "clips/s", "audio s/s", "mean batch", "padding"):
        table.add_column(column, justify="right")
    for row in (result["single"], result["concurrent"]):
        table.add_row(
            *(
                str(row[k])
                for k in ("callers", "seconds", "clips_per_s", "audio_s_per_s", "mean_batch", "padding")
            )
        )
    console.print(table)
    console.print(f"throughput ratio, {callers} callers vs 1: [bold]{result['ratio']:.2f}x[/]")
