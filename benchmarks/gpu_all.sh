#!/usr/bin/env bash
# Everything GPU-side of issue 13 in one short go (under 8 min on one H100), each part under its own
# timeout, results written as each part ends (a part that times out leaves its log; the others go on):
#   1. bench_utilisation.py   synthetic step of inviscid_burgers_2d (128², UNet 4 × 128, batch 32), float32
#                             and bfloat16, K = 1 and 5: XLA FLOPs, FLOP/s, fraction of peak, memory/sample;
#                             profile of the rest of a cycle                                   (limit 180 s)
#   2. bench_mixed_precision.py  accuracy cost of bf16 (smoke UNet, 20 epochs, 2 seeds) + its speed  (60 s)
#   3. bench_hybrid_cycle.py --quick   the smoke job's steady cycle, by phase, compile apart        (45 s)
#   4. bench_reference.py (if present: helper branch i13-bench) cycles per K and projected full runs:
#        inviscid_burgers_2d K 1, 5 (130 s) and inviscid_burgers_1d K 1, 12 (50 s)
# Output (RESULTS, default $OUT or benchmarks/results): one JSON per script, gpu_all.log (every part's
# output, appended as it runs) and summary.txt (one line per part: exit code, seconds) — at most 8
# files, as the device tool brings back.
#
# phiflow, phiml and grain are not on the GPU image: run `bash benchmarks/gpu_wheels.sh` HERE first
# (it fills .whl/), carry .whl, and this script installs them offline into /tmp/site. Then, e.g.:
#   run(command="bash benchmarks/gpu_all.sh", carry=[".whl"], timeout_s=600)
# Check it on a CPU first, with tiny sizes and short limits: bash benchmarks/gpu_all.sh --cpu-dry-run [RESULTS]
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
RESULTS=""
for a in "$@"; do
  case "$a" in
    --cpu-dry-run) DRY=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) RESULTS="$a" ;;
  esac
done
RESULTS="${RESULTS:-${OUT:-benchmarks/results}}"
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_all.log"
SUMMARY="$RESULTS/summary.txt"
: >"$LOG"; : >"$SUMMARY"
export PYTHONUNBUFFERED=1 HYBRID_JAX_BENCH_RESULTS="$RESULTS"
PY="${PYTHON:-python3}"

if ! "$PY" -c "import phi, phiml, grain" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "phiflow/phiml/grain missing and no .whl/: run benchmarks/gpu_wheels.sh where pip works, carry .whl" | tee -a "$LOG"
    exit 2
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee -a "$LOG"; exit 2; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ "$DRY" = 1 ]; then
  export JAX_PLATFORMS=cpu
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import importlib.metadata as m, jax; print({n: m.version(n) for n in ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'phiflow', 'phiml', 'grain')}, jax.devices())"
} 2>&1 | tee -a "$LOG"

# part NAME LIMIT_S COMMAND...: run under a timeout, output appended to the log, one summary line
part() {
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  echo -e "\n===== $name (limit ${limit}s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | grep --line-buffered -v -e "Warning" -e "warnings.warn" >>"$LOG"
  local rc=${PIPESTATUS[0]}
  local line="$name: exit $rc$([ "$rc" = 124 ] && echo ' (timed out)') after $((SECONDS - t0)) s"
  echo "$line" | tee -a "$SUMMARY" "$LOG"
}

B=benchmarks
if [ "$DRY" = 0 ]; then
  part utilisation 180 "$PY" $B/bench_utilisation.py --no-torch
  part mixed_precision 60 "$PY" $B/bench_mixed_precision.py --no-torch
  part smoke_cycle 45 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch
  if [ -f $B/bench_reference.py ]; then
    part reference_2d 130 "$PY" $B/bench_reference.py --configs inviscid_burgers_2d --ks 1 5 --epochs 2 \
      --time-limit 120 --out "$RESULTS/bench_reference-inviscid_burgers_2d.json"
    part reference_1d 50 "$PY" $B/bench_reference.py --configs inviscid_burgers_1d --ks 1 12 --epochs 4 \
      --time-limit 40 --out "$RESULTS/bench_reference-inviscid_burgers_1d.json"
  else
    echo "reference: benchmarks/bench_reference.py not present (helper branch i13-bench), skipped" | tee -a "$SUMMARY" "$LOG"
  fi
else  # the same calls at tiny sizes on the CPU: checks the plumbing, not the figures
  part utilisation 420 "$PY" $B/bench_utilisation.py --quick --repeats 1 --warmup 0 --steps-per-repeat 1 --horizons 1,2
  part mixed_precision 240 "$PY" $B/bench_mixed_precision.py --quick --epochs 1 --override \
    "physics.resolution=[16,16]" data.num_frames=8 data.num_trajectories=4 trainer.batch_size=4 evaluation.horizon=6
  part smoke_cycle 240 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch --smoke-override \
    "physics.resolution=[16,16]" data.num_frames=8 trainer.hybrid.cycles=2 evaluation.horizon=6
  if [ -f $B/bench_reference.py ]; then
    part reference_1d 300 "$PY" $B/bench_reference.py --configs inviscid_burgers_1d --ks 1 --epochs 1 --cycles 2 \
      --time-limit 200 --out "$RESULTS/bench_reference-inviscid_burgers_1d.json" \
      "physics.resolution=[64]" data.num_frames=16 data.rollout_steps=2 trainer.synthetic.rollout_curriculum.end=2 \
      trainer.hybrid.generation.physical_length=8 trainer.hybrid.generation.synthetic_length=2 trainer.batch_size=8 \
      trainer.physical.epochs=2 evaluation.horizon=8
  else
    echo "reference: benchmarks/bench_reference.py not present (helper branch i13-bench), skipped" | tee -a "$SUMMARY" "$LOG"
  fi
fi
echo -e "\n===== summary" | tee -a "$LOG"
cat "$SUMMARY"
ls -l "$RESULTS"
