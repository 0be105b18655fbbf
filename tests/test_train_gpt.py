"""GPT trainer: learns, survives SIGKILL + resume with identical weights, recovers from an injected OOM, LoRA."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tests.helpers.tiny_train import TINY_GPT, run_tiny_gpt, tiny_gpt, tiny_gpt_items

from timbre.models.gpt import Text2SemanticDecoder
from timbre.train.checkpoints import step_of
from timbre.train.data import GPTItem
from timbre.train.gpt_trainer import GPTTrainConfig, train_gpt
from timbre.train.loop import RunConfig
from timbre.train.lora import LoRAConfig
from timbre.train.tiny import tiny_gpt as recipe_tiny_gpt  # the `--config tiny` GPT (full vocabularies)

ROOT = Path(__file__).resolve().parents[1]


def _run_script(out: Path, *args: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.helpers.tiny_train", str(out), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,  # a process group of its own: the "terminate" mode signals the whole group
    )
    return proc.returncode


def test_loss_goes_down_and_outputs_are_written(tmp_path: Path) -> None:
    model = run_tiny_gpt(tmp_path, resume=False, epochs=6)
    rows = [r for r in (tmp_path / "gpt.csv").read_text().splitlines()[1:]]
    losses = [float(r.split(",")[1]) for r in rows]
    assert losses[-1] < losses[0]
    # each row's learning rate is the one its step used: the first step's is the warm-up's first
    header = (tmp_path / "gpt.csv").read_text().splitlines()[0].split(",")
    lrs = [float(r.split(",")[header.index("lr")]) for r in rows]
    from timbre.train.gpt_trainer import lr_lambda

    factor = lr_lambda(len(rows), GPTTrainConfig(lr=3e-3))
    assert lrs == pytest.approx([3e-3 * factor(i) for i in range(len(rows))])
    assert (tmp_path / "gpt_losses.png").exists()
    assert not model.training


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run the stopped-and-resumed ones must reach."""
    out = tmp_path_factory.mktemp("straight")
    assert _run_script(out, "plain") == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, code, newest",
    [
        (
            "kill",
            -9,
            4,
        ),  # SIGKILL right after optimizer step 5: the periodic checkpoint (every 2 steps) is step 4
        ("interrupt", 130, 5),  # Ctrl-C right after step 5: that step itself is saved
        ("terminate", 130, 5),  # SIGTERM to the process group, DataLoader workers included: the same
    ],
)
def test_a_stopped_run_resumes_to_the_same_weights(
    straight: Path, tmp_path: Path, mode: str, code: int, newest: int
) -> None:
    stopped = tmp_path / mode
    assert _run_script(stopped, mode, "5") == code
    assert not (stopped / "final.pt").exists()
    steps = sorted(step_of(p) for p in (stopped / "checkpoints" / "gpt").glob("step-*.pt"))
    assert steps[-1] == newest
    assert _run_script(stopped, "resume") == 0
    a = torch.load(straight / "final.pt", weights_only=True)
    b = torch.load(stopped / "final.pt", weights_only=True)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    assert (stopped / "gpt.csv").read_text() == (straight / "gpt.csv").read_text()


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_stop_signals_ask_to_stop_and_the_handlers_are_restored(name: str) -> None:
    import signal

    from timbre.train.loop import STOP_SIGNALS, stop_on_signals

    sig = getattr(signal, name)
    before = signal.getsignal(sig)
    with stop_on_signals() as stop:
        if before is STOP_SIGNALS[sig]:  # Python's own handler: replaced for the run
            assert signal.getsignal(sig) is not before
            signal.raise_signal(sig)  # the first: a request, no exception
            assert stop.requested
            if sig == signal.SIGINT:
                with pytest.raises(KeyboardInterrupt):
                    signal.raise_signal(sig)  # a second Ctrl-C: at once
            else:
                signal.raise_signal(sig)  # the same stop delivered twice (Slurm and torchrun): ignored
                assert stop.requested
    assert signal.getsignal(sig) is before


def test_a_foreign_signal_handler_is_kept() -> None:
    import signal

    from timbre.train.loop import stop_on_signals

    def mine(signum, frame):  # type: ignore[no-untyped-def]
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with stop_on_signals() as stop:
            assert signal.getsignal(signal.SIGTERM) is mine
            signal.raise_signal(signal.SIGTERM)
            assert not stop.requested
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_injected_oom_is_retried_as_micro_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_gpt()
    original = type(model).forward
    calls = {"n": 0}

    def flaky(self, phone_ids, *args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if phone_ids.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return original(self, phone_ids, *args)

    monkeypatch.setattr(type(model), "forward", flaky)
    run = RunConfig(out_dir=tmp_path, epochs=1, max_frames=200, max_batch=4, progress=False)
    train_gpt(model, tiny_gpt_items(), run)
    state = torch.load(sorted((tmp_path / "checkpoints" / "gpt").glob("*.pt"))[-1], weights_only=True)
    assert state["micro_splits"] >= 2


def test_lora_fine_tune_merges_into_plain_weights(tmp_path: Path) -> None:
    model = tiny_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = RunConfig(out_dir=tmp_path, epochs=2, max_frames=60, max_batch=4, progress=False)
    trained = train_gpt(
        model, tiny_gpt_items(), run, GPTTrainConfig(lr=1e-2, lora=LoRAConfig(rank=2, alpha=4))
    )
    after = trained.state_dict()
    assert sorted(after) == sorted(before)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("linear" in k or "proj" in k for k in changed)


def test_empty_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no GPT training items"):
        train_gpt(tiny_gpt(), [], RunConfig(out_dir=tmp_path, progress=False))


@pytest.mark.slow
def test_compiled_training_runs_with_the_fast_dropout(tmp_path: Path) -> None:
    """`--compile`: the dropout's numpy draw must stay outside the traced graph (tracing it broke aliasing)."""
    g = torch.Generator().manual_seed(0)
    items = [  # equal shapes: one static graph (the shapes that exposed the traced numpy draw)
        GPTItem(
            torch.randint(1, 732, (6,), generator=g),
            torch.randn(1024, 6, generator=g),
            torch.randint(0, 1024, (12,), generator=g),
        )
        for _ in range(4)
    ]
    run = RunConfig(
        out_dir=tmp_path, epochs=1, max_batch=2, max_frames=100, progress=False, device="cpu", compile=True
    )
    before = {k: v.clone() for k, v in recipe_tiny_gpt(0).state_dict().items()}
    trained = train_gpt(recipe_tiny_gpt(0), items, run, GPTTrainConfig(lr=1e-3))
    assert any(not torch.equal(before[k], v) for k, v in trained.state_dict().items())


def test_resume_refuses_other_batches_or_models_and_allows_more_epochs(tmp_path: Path) -> None:
    from timbre.errors import CheckpointError

    items = tiny_gpt_items()
    run = RunConfig(out_dir=tmp_path, epochs=1, max_frames=60, max_batch=4, seed=7, progress=False)
    train_gpt(tiny_gpt(), items, run)
    with pytest.raises(
        CheckpointError, match=r"other data or options \(batch size 4 -> 2; frames per batch 60 -> 30\)"
    ):
        train_gpt(tiny_gpt(), items, replace(run, resume=True, max_batch=2, max_frames=30))
    with pytest.raises(
        CheckpointError, match=r"other data or options \(item lengths .*; training items 12 -> 11\)"
    ):
        train_gpt(tiny_gpt(), items[:-1], replace(run, resume=True))
    bigger = Text2SemanticDecoder(replace(TINY_GPT, n_layer=3))
    with pytest.raises(
        CheckpointError,
        match=r"holds other models than this run builds \(Text2SemanticDecoder: \d+ missing, e.g. h.layers.2",
    ):
        train_gpt(bigger, items, replace(run, resume=True))
    train_gpt(tiny_gpt(), items, replace(run, resume=True, epochs=2))  # more epochs: the same run, continued
    steps = sorted((tmp_path / "checkpoints" / "gpt").glob("step-*.pt"))
    assert torch.load(steps[-1], weights_only=True)["position"]["epoch"] == 2
