#!/usr/bin/env bash
# Issue 13's GPU measurements in one short go: the reference experiments' cycles per curriculum horizon K
# and their projected full runs (benchmarks/bench_reference.py), about 8 min on one H100 (each K is one
# training process: imports, data generation, compilation with a fresh cache, a 1-epoch warm-up and 3
# cycles; the first K runs twice, for the linearity check).
#   inviscid_burgers_2d (target: full run < 1 h): K 1, 3, 5 (the curriculum's 1..5), 4 epochs per cycle
#   inviscid_burgers_1d (target: < 10 min):      K 1, 12 (its 1..12; linear in K between), 10 epochs per cycle
# Usage (from the repository root, on the GPU machine): bash benchmarks/gpu_run.sh [RESULTS_DIR]
# Where phiflow, phiml or grain are missing, their wheels in .whl/ are installed into /tmp/site first.
# Each script stops starting new processes when its --time-limit is near and projects from what it has.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-benchmarks/results}}"
mkdir -p "$OUT"
if ! python3 -c "import phi, phiml, grain" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 benchmarks/bench_reference.py --configs inviscid_burgers_2d --ks 1 3 5 --epochs 4 --time-limit 330 \
  --out "$OUT/bench_reference-inviscid_burgers_2d-gpu.json" 2>&1 | grep -v Warning || echo "inviscid_burgers_2d: failed"
python3 benchmarks/bench_reference.py --configs inviscid_burgers_1d --ks 1 12 --epochs 10 --time-limit 150 \
  --out "$OUT/bench_reference-inviscid_burgers_1d-gpu.json" 2>&1 | grep -v Warning || echo "inviscid_burgers_1d: failed"
