"""timbre's C kernels for hot CPU training loops, built on first use by the system C compiler and called through ctypes.

`data/kernels.c` holds fused loops that PyTorch runs as several passes over memory: dropout with its random draw
(one pass each way, nothing saved for backward) and the row work of the GPT's training attention (masked softmax +
dropout in one pass forward, the softmax backward in one pass). The first call compiles the file with `cc` (or `$CC`)
and `-O3 -ffast-math -march=native -fopenmp` into a per-user cache (`$TIMBRE_NATIVE_CACHE`, else
`~/.cache/timbre/native`), named by a hash of the source, the flags, the compiler and this CPU; later processes load
the cached library. PyTorch is loaded first and its own `libgomp.so.1` answers the library's OpenMP calls, so the
kernels run on the threads PyTorch's operators use (`torch.get_num_threads()`), already awake; without OpenMP the
library is built single-threaded.

Everything here is optional: without a compiler, when compiling fails, or with `TIMBRE_NATIVE=0`, `kernels()`
returns None (the failure is logged once) and callers keep their PyTorch paths, which the kernels are tested against.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FLAGS = ("-O3", "-ffast-math", "-march=native", "-fPIC", "-shared")
OPENMP = "-fopenmp"
_I64, _U64, _U32, _F32, _INT, _PTR = (
    ctypes.c_int64,
    ctypes.c_uint64,
    ctypes.c_uint32,
    ctypes.c_float,
    ctypes.c_int,
    ctypes.c_void_p,
)
_SIGNATURES = {
    "timbre_dropout_keep": [_PTR, _I64, _U64, _U32],
    "timbre_dropout": [_PTR, _PTR, _I64, _U64, _U32, _F32, _INT],
    "timbre_attention_forward": [_PTR, _PTR, _PTR, _I64, _I64, _I64, _I64, _U64, _U32, _F32, _INT],
    "timbre_attention_backward": [_PTR, _PTR, _PTR, _I64, _I64, _INT],
    "timbre_relu_dropout": [_PTR, _PTR, _I64, _U64, _U32, _F32, _INT],
    "timbre_relu_dropout_backward": [_PTR, _PTR, _PTR, _I64, _F32, _INT],
}
MAX_ELEMENTS = 1 << 32  # draws are indexed by a 32-bit counter
PARALLEL_ELEMENTS = 1 << 15  # smaller calls run on one thread


def _cache_dir() -> Path:
    root = os.environ.get("TIMBRE_NATIVE_CACHE")
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "timbre" / "native"


def _cpu_fingerprint() -> str:
    """The CPU's feature flags (what -march=native compiles for), so that a shared cache never hands one machine a
    library built for another."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def _compile(source: bytes, compiler: str, target: Path) -> None:
    """Compile `source` into the shared library `target` (with OpenMP where the compiler has it), written
    atomically: a temporary file, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src, out = Path(tmp) / "kernels.c", Path(tmp) / target.name
        src.write_bytes(source)
        for extra in ([OPENMP], []):
            done = subprocess.run(  # noqa: S603  (a fixed argument list, no shell)
                [compiler, *FLAGS, *extra, "-o", str(out), str(src), "-lm"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode == 0:
                out.replace(target)
                return
        raise OSError(f"{compiler} failed: {done.stderr.strip()[-800:]}")


@functools.cache
def _load() -> ctypes.CDLL | None:
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler found: timbre's native CPU kernels are off (training runs slower)")
        return None
    source = (resources.files("timbre.native") / "data" / "kernels.c").read_bytes()
    key = hashlib.sha256(
        b"\0".join(
            [source, " ".join([*FLAGS, OPENMP]).encode(), compiler.encode(), _cpu_fingerprint().encode()]
        )
    ).hexdigest()[:24]
    target = _cache_dir() / f"kernels-{key}.so"
    try:
        if not target.is_file():
            _compile(source, compiler, target)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("timbre's native CPU kernels are off (training runs slower): %s", exc)
        return None
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, None
    return lib


@torch.compiler.disable  # reads the environment and the file system: not for tracing
def kernels() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they are unavailable or turned off (`TIMBRE_NATIVE=0`)."""
    if os.environ.get("TIMBRE_NATIVE", "1") == "0":
        return None
    return _load()


def threads(elements: int) -> int:
    """Threads for a call over `elements` items: PyTorch's count, or one for small calls."""
    return torch.get_num_threads() if elements >= PARALLEL_ELEMENTS else 1


def threshold(p: float) -> int:
    """The dropout draw's threshold for probability p in [0, 1): a draw below it drops its element."""
    return min(round(p * (1 << 32)), (1 << 32) - 1)


def _check(name: str, t: torch.Tensor, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    """The kernels take raw pointers: refuse anything but a contiguous CPU tensor of the expected dtype and shape."""
    if t.dtype != dtype or t.device.type != "cpu" or not t.is_contiguous() or tuple(t.shape) != shape:
        raise ValueError(
            f"{name}: expected a contiguous CPU {dtype} tensor of shape {list(shape)}, "
            f"got {t.dtype} {list(t.shape)} on {t.device} (contiguous: {t.is_contiguous()})"
        )


def _drawn(kernel: Any, name: str, x: torch.Tensor, seed: int, p: float) -> torch.Tensor:
    """Run an elementwise kernel with the dropout draw of `seed` over x into a new contiguous float32 tensor."""
    x = x.contiguous()
    _check(name, x, torch.float32, tuple(x.shape))
    y = torch.empty_like(x)
    n = x.numel()
    kernel(x.data_ptr(), y.data_ptr(), n, seed, threshold(p), 1.0 / (1.0 - p), threads(n))
    return y


def dropout(lib: ctypes.CDLL, x: torch.Tensor, seed: int, p: float) -> torch.Tensor:
    """x * (0 or 1 / (1 - p)) with the draw of `seed`: a new contiguous float32 tensor (forward and backward alike)."""
    return _drawn(lib.timbre_dropout, "dropout input", x, seed, p)


def relu_dropout(lib: ctypes.CDLL, x: torch.Tensor, seed: int, p: float) -> torch.Tensor:
    """dropout(relu(x)) with the draw of `seed` (equal to `dropout` of relu(x)), as a new contiguous float32 tensor."""
    return _drawn(lib.timbre_relu_dropout, "relu-dropout input", x, seed, p)


def relu_dropout_backward(
    lib: ctypes.CDLL, grad: torch.Tensor, result: torch.Tensor, p: float
) -> torch.Tensor:
    """The input's gradient of `relu_dropout` from its result: grad / (1 - p) where the result is positive, else 0."""
    grad = grad.contiguous()
    _check("relu-dropout result", result, torch.float32, tuple(result.shape))
    _check("relu-dropout gradient", grad, torch.float32, tuple(result.shape))
    dx = torch.empty_like(result)
    n = result.numel()
    lib.timbre_relu_dropout_backward(
        grad.data_ptr(), result.data_ptr(), dx.data_ptr(), n, 1.0 / (1.0 - p), threads(n)
    )
    return dx


def attention_forward(
    lib: ctypes.CDLL, scores: torch.Tensor, visible: torch.Tensor, heads: int, seed: int, p: float
) -> torch.Tensor:
    """One block of queries: scores [BH, R, K] (contiguous float32) become the probabilities in place (softmax over
    the keys `visible` [B, R, K] uint8 allows); returns them times the dropout factor of `seed`'s draw."""
    bh, rows, keys = scores.shape
    _check("attention scores", scores, torch.float32, (bh, rows, keys))
    _check("attention mask", visible, torch.uint8, (bh // heads, rows, keys))
    if bh % heads:
        raise ValueError(f"attention scores: {bh} rows of heads is not a multiple of {heads} heads")
    dropped = torch.empty_like(scores)
    lib.timbre_attention_forward(
        scores.data_ptr(),
        dropped.data_ptr(),
        visible.data_ptr(),
        bh * rows,
        heads,
        rows,
        keys,
        seed,
        threshold(p),
        1.0 / (1.0 - p),
        threads(scores.numel()),
    )
    return dropped


def attention_backward(
    lib: ctypes.CDLL, grad: torch.Tensor, dropped: torch.Tensor, probs: torch.Tensor
) -> None:
    """grad [BH, R, K], the gradient of `attention_forward`'s result, becomes the scores' gradient in place."""
    bh, rows, keys = grad.shape
    for name, t in (("gradient", grad), ("dropped probabilities", dropped), ("probabilities", probs)):
        _check(f"attention {name}", t, torch.float32, (bh, rows, keys))
    lib.timbre_attention_backward(
        grad.data_ptr(), dropped.data_ptr(), probs.data_ptr(), bh * rows, keys, threads(grad.numel())
    )


def new_seed(generator: torch.Generator | None = None) -> int:
    """A 64-bit seed for one call's draws, taken from torch's generator (so that `torch.manual_seed`, checkpointed RNG
    state and resume decide the draws)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())
