"""DDP on CPU: `torchrun --nproc-per-node 2` (gloo) trains the tiny GPT; both ranks end with identical weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

# A rank that hangs prints every thread's stack after a minute (a normal run takes under 10 s).
HANG_DUMP = "import faulthandler; faulthandler.dump_traceback_later(60)\n"

# the tiny GPT's training items, the same in every worker script
ITEMS = """
g = torch.Generator().manual_seed(0)
items = []
for i in range(8):
    n = 6 + i % 3
    items.append(GPTItem(torch.randint(1, 732, (n,), generator=g), torch.randn(1024, n, generator=g),
                         torch.randint(0, 1024, (10 + i % 5,), generator=g)))
"""

WORKER = (
    HANG_DUMP
    + """
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from timbre.train.data import GPTItem
from timbre.train.distributed import DistEnv
from timbre.train.gpt_trainer import GPTTrainConfig, train_gpt
from timbre.train.loop import RunConfig
from timbre.train.tiny import tiny_gpt

out = Path(sys.argv[1])
"""
    + ITEMS
    + """
run = RunConfig(out_dir=out, epochs=2, max_batch=2, max_frames=100, progress=False, device="cpu")
model = train_gpt(tiny_gpt(0), items, run, GPTTrainConfig(lr=1e-3))
env = DistEnv.from_environ()
torch.save({"world_size": env.world_size, "state": model.state_dict()}, out / f"rank{env.rank}.pt")
"""
)


def torchrun(script: Path, *args: str, timeout: float = 150) -> None:
    """`torchrun --standalone --nproc-per-node 2 script args`, asserting success.

    Output goes to files, not pipes: torchrun starts each worker in a session of its own, so a worker left behind
    would hold a pipe open and block the reader forever. On a timeout the launcher is asked to stop its workers
    (SIGTERM), anything left running the script is killed, and the run is tried once more; each rank dumps its stack
    to the log after a minute, and a hung attempt's log is kept in the warning."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in (1, 2):
        log = script.with_name(f"{script.stem}.attempt{attempt}.log")
        with log.open("w") as out:
            proc = subprocess.Popen(  # noqa: S603  (this interpreter, a fixed module, test-owned paths)
                [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop(proc, script)
                text = log.read_text(errors="replace")[-6000:]
                if attempt == 2:
                    pytest.fail(f"torchrun hung twice; last log:\n{text}")
                warnings.warn(f"torchrun hung and was retried; its log:\n{text}", stacklevel=2)
                continue
        assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
        return


def _stop(proc: subprocess.Popen, script: Path) -> None:
    """Stop a hung torchrun: SIGTERM lets it stop its workers; then SIGKILL its group and any process still running
    `script` (its workers live in sessions of their own)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(script) in cmdline.read_bytes().decode(errors="replace").split("\0"):
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass  # gone already, or not ours to read


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    torchrun(script, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    a, b = ranks[0]["state"], ranks[1]["state"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    from timbre.train.tiny import tiny_gpt

    start = tiny_gpt(0).state_dict()
    assert any(not torch.equal(start[k], a[k]) for k in a)  # it did train
    assert (tmp_path / "gpt.csv").is_file() and list((tmp_path / "checkpoints" / "gpt").glob("*.pt"))


FIRST_WORKER = (
    HANG_DUMP
    + """
import sys, time
from pathlib import Path

import torch

from timbre.errors import TimbreError
from timbre.train.distributed import DistEnv, any_rank, distributed, main_rank_first, min_over_ranks

out, fail = Path(sys.argv[1]), sys.argv[2] == "fail"
env = DistEnv.from_environ()
device = torch.device("cpu")


def work() -> str:
    if env.rank == 0:
        time.sleep(0.5)  # a slow extraction: rank 1 must still come second
        if fail:
            raise ValueError("corrupt segment")
        (out / "features").write_text("written by rank 0")
        return "computed"
    return "read " + (out / "features").read_text()


with distributed(env, device), distributed(env, device):  # re-entrant: the inner block reuses the group
    try:
        result = main_rank_first(env, device, work)
    except (TimbreError, ValueError) as exc:
        result = f"{type(exc).__name__}: {exc}"
    agreed = (min_over_ranks(10 + 5 * env.rank, device), any_rank(env.rank == 1, device), any_rank(False, device))
(out / f"rank{env.rank}.txt").write_text(result)
(out / f"agreed{env.rank}.txt").write_text(repr(agreed))
"""
)


@pytest.mark.parametrize("mode", ["ok", "fail"])
def test_rank_zero_prepares_first_and_its_failure_reaches_every_rank(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "first.py"
    script.write_text(FIRST_WORKER)
    torchrun(script, str(tmp_path), mode)
    got = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    if mode == "ok":
        assert got == ["computed", "read written by rank 0"]
    else:
        assert got[0] == "ValueError: corrupt segment"
        assert got[1].startswith("TimbreError: rank 0 failed")
    # every rank learns the smallest value and whether any rank's flag is set
    assert [(tmp_path / f"agreed{r}.txt").read_text() for r in (0, 1)] == ["(10, True, False)"] * 2


def test_the_other_ranks_wait_for_rank_zero_without_the_collectives_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NCCL's watchdog ends a process whose collective waits 10 minutes (gloo: 30): extracting a large dataset, or
    waiting for another job's extraction of it, takes longer. The ranks wait in a gloo group of their own."""
    import torch.distributed as dist

    from timbre.train.distributed import PREPARE_TIMEOUT, DistEnv, main_rank_first

    made: list[dict[str, object]] = []
    new_group = dist.new_group

    def spy(*args: object, **kwargs: object) -> object:
        made.append(kwargs)
        return new_group(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dist, "new_group", spy)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        assert (
            main_rank_first(DistEnv(rank=0, world_size=2), torch.device("cpu"), lambda: "computed")
            == "computed"
        )
    finally:
        dist.destroy_process_group()
    assert made == [{"backend": "gloo", "timeout": PREPARE_TIMEOUT}]
    assert PREPARE_TIMEOUT.total_seconds() >= 6 * 3600


def test_ddp_keeps_the_discriminators_k_major_gradient_layout(tmp_path: Path) -> None:
    """The Winograd layers store `weight_v` taps-outermost; DDP's bucket views follow a dense parameter's strides, so
    their gradients must arrive in that same layout (else DDP warns and copies every step)."""
    import torch.distributed as dist

    from timbre.models.discriminators import MultiPeriodDiscriminator
    from timbre.models.losses import discriminator_loss

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        disc = MultiPeriodDiscriminator("v2").train()
        net = torch.nn.parallel.DistributedDataParallel(disc)
        y = torch.randn(1, 1, 4096) * 0.1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Grad strides do not match bucket view strides" would raise
            scores = net(y, 0.5 * y)
            discriminator_loss(scores.real_scores, scores.fake_scores)[0].backward()
    finally:
        dist.destroy_process_group()
    k_major = [p for n, p in disc.named_parameters() if n.endswith("weight_v") and not p.is_contiguous()]
    assert len(k_major) == 6  # convs.4 of each period discriminator, convs.5 of the scale discriminator
    assert all(p.grad is not None and p.grad.stride() == p.stride() for p in k_major)


STOP_WORKER = (
    HANG_DUMP
    + """
import os, signal, sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from timbre.errors import TrainingInterrupted
from timbre.train.data import GPTItem
from timbre.train.distributed import DistEnv
from timbre.train.gpt_trainer import GPTTrainConfig, train_gpt
from timbre.train.loop import RunConfig
from timbre.train.tiny import tiny_gpt

out, mode = Path(sys.argv[1]), sys.argv[2]  # straight | stop | resume
env = DistEnv.from_environ()
"""
    + ITEMS
    + """

def on_step(step: int) -> None:
    if mode == "stop" and env.rank == 1 and step == 3:
        os.kill(os.getpid(), signal.SIGTERM)  # as Slurm or `kill` would: this rank alone is told


run = RunConfig(out_dir=out, epochs=3, max_batch=2, max_frames=100, progress=False, device="cpu",
                on_step=on_step, resume=mode == "resume")
try:
    model = train_gpt(tiny_gpt(0), items, run, GPTTrainConfig(lr=1e-3))
except TrainingInterrupted as exc:
    (out / f"stopped{env.rank}.txt").write_text(str(exc.step))
else:
    torch.save(model.state_dict(), out / f"final{env.rank}.pt")
"""
)


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step_and_resume_finishes_the_run(
    tmp_path: Path,
) -> None:
    script = tmp_path / "stop.py"
    script.write_text(STOP_WORKER)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    straight.mkdir()
    stopped.mkdir()
    torchrun(script, str(straight), "straight")
    torchrun(script, str(stopped), "stop")
    assert [(stopped / f"stopped{r}.txt").read_text() for r in (0, 1)] == ["3", "3"]
    assert max(p.name for p in (stopped / "checkpoints" / "gpt").glob("*.pt")) == "step-000000003.pt"
    torchrun(script, str(stopped), "resume")
    for rank in (0, 1):
        a = torch.load(straight / f"final{rank}.pt", weights_only=True)
        b = torch.load(stopped / f"final{rank}.pt", weights_only=True)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_a_gpu_run_reduces_cpu_tensors_over_gloo(monkeypatch: pytest.MonkeyPatch) -> None:
    """NCCL reduces CUDA tensors only: the logged metrics and flags (CPU tensors) go over gloo in the same group."""
    import torch.distributed as dist

    from timbre.train import distributed as module

    calls: dict[str, object] = {}
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.setdefault("device", device))
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.update(kw))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(module, "_quiesce", lambda synchronize: None)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.setdefault("destroyed", True))
    with module.distributed(module.DistEnv(rank=1, local_rank=1, world_size=2), torch.device("cuda", 1)):
        pass
    assert calls["backend"] == "cpu:gloo,cuda:nccl" and calls["rank"] == 1 and calls["destroyed"]


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True])
def test_timbre_train_under_torchrun(tmp_path: Path, lora: bool) -> None:
    """The whole recipe with 2 gloo ranks: one extracts, both train SoVITS and GPT, rank 0 writes the voice. DDP is
    told to look for unused parameters only where there are some (the generator's frozen quantizer projection):
    a wrong choice fails at the second step, or warns about the extra graph walk."""
    from timbre.infer.voice import load_voice
    from timbre.train.tiny import write_tiny_dataset

    dataset = write_tiny_dataset(tmp_path / "dataset", seconds=3.0)
    script = tmp_path / "cli.py"
    script.write_text(HANG_DUMP + "import sys\nfrom timbre.cli import run_app\nrun_app(sys.argv[1:])\n")
    voice = tmp_path / "voice"
    args = ["train", str(dataset), "--config", "tiny", "--out", str(voice), "--quiet"]
    torchrun(
        script, *args, "--epochs-sovits", "2", "--epochs-gpt", "2", *(["--lora-rank", "2"] if lora else [])
    )
    assert load_voice(voice).reference is not None and (voice / "gpt.safetensors").is_file()
    log = script.with_name("cli.attempt1.log").read_text(errors="replace")
    assert log.count("trained sovits + gpt on 4 segments") == 2  # both ranks
    assert "find_unused_parameters=True was specified" not in log
