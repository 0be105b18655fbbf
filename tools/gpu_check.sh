#!/usr/bin/env bash
# CUDA checks and GPU figures for `timbre train`, in one run on a lent GPU machine (see tools/gpu_check.py).
# With the device tool, from the repository root:  bash tools/gpu_check.sh   (carry .whl: the wheels below)
# Results: $OUT/gpu_check.json and $OUT/gpu_check.log (./gpu-check/ where OUT is unset).
#
# The device image has PyTorch, numpy, scipy, rich, typer, tqdm, safetensors, tensorboard and matplotlib, but not
# soundfile or soxr, which timbre's audio code imports. Fetch them here once, as x86-64 wheels for its Python 3.12:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
#       -d .whl soundfile soxr cffi pycparser
set -uo pipefail
out=${OUT:-$PWD/gpu-check}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu_check.log"
python3 tools/gpu_check.py "$out" "$@" 2>&1 | tee -a "$out/gpu_check.log"
