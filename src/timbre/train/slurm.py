"""Slurm: write an sbatch script that runs `timbre train` on N nodes × G GPUs through `srun torchrun`."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SlurmConfig:
    nodes: int = 1
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    time: str = "24:00:00"
    job_name: str = "timbre-train"
    partition: str | None = None
    port: int = 29500
    python: str = "python"

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.gpus_per_node < 1:
            raise ValueError("--nodes and --gpus-per-node must be at least 1")
        if not re.fullmatch(r"[\w.-]+", self.job_name) or (
            self.partition and not re.fullmatch(r"[\w.,-]+", self.partition)
        ):
            raise ValueError("job name and partition may contain only letters, digits, '.', ',', '_' and '-'")
        if not re.fullmatch(r"(\d+-)?\d{1,3}:\d{2}:\d{2}", self.time):
            raise ValueError(f"--time must look like HH:MM:SS or D-HH:MM:SS, got {self.time!r}")


def sbatch_script(train_args: list[str], cfg: SlurmConfig, log_dir: Path) -> str:
    """The script text. One task per node; torchrun starts G workers per node with c10d rendezvous on the first node."""
    quoted = " ".join(shlex.quote(a) for a in train_args)
    lines = [
        "#!/usr/bin/env bash",
        f"#SBATCH --job-name={cfg.job_name}",
        f"#SBATCH --nodes={cfg.nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gpus-per-node={cfg.gpus_per_node}",
        f"#SBATCH --cpus-per-task={cfg.cpus_per_task}",
        f"#SBATCH --time={cfg.time}",
        "#SBATCH --signal=TERM@120",  # two minutes before the time limit: stop after a step, with a checkpoint
        f"#SBATCH --output={shlex.quote(str(log_dir / '%x-%j.out'))}",
    ]
    if cfg.partition:
        lines.append(f"#SBATCH --partition={cfg.partition}")
    lines += [
        "set -euo pipefail",
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f"MASTER_PORT={cfg.port}",
        "export MASTER_ADDR MASTER_PORT",
        "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
        # after the SIGTERM, torchrun gives its workers this long to finish the step and save (default 30 s)
        "export TORCH_ELASTIC_SHUTDOWN_TIMEOUT=100",
        "srun --kill-on-bad-exit=1 "
        f"{shlex.quote(cfg.python)} -m torch.distributed.run "
        '--nnodes="$SLURM_NNODES" '
        f"--nproc-per-node={cfg.gpus_per_node} "
        '--rdzv-id="$SLURM_JOB_ID" --rdzv-backend=c10d '
        '--rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" '
        f"-m timbre train {quoted}",
        "",
    ]
    return "\n".join(lines)
