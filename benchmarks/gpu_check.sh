#!/usr/bin/env bash
# On a lent GPU machine, from the repository root: the whole prepared GPU check in one call
# (under 8 minutes), everything under one folder ($OUT when the device tool sets it).
set -uo pipefail
out="${OUT:-gpu-results}/gpu"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
python -c "import cupy, numba, sys; print('cupy', cupy.__version__, 'numba', numba.__version__, 'python', sys.version)" > "$out/versions.txt" 2>&1 || true
NUMBA_ENABLE_CUDASIM=0 timeout 450 python -m benchmarks.gpu --out "$out" 2>&1 | tee "$out/run.log"
