#!/usr/bin/env bash
# Everything GPU-side of issue 13 in one short go (about 8 min on one H100), in parts, each under its own
# timeout, results written as each part ends (a part that times out leaves its log; the others go on):
#   smoke_cycle      bench_hybrid_cycle.py --quick: the smoke job's steady cycle by phase, compile apart (50 s)
#   smoke_cycle_graphs  the same with XLA command buffers (CUDA graphs) for loops too                 (50 s)
#   rollout_tests    pytest -k rollout: the numerics tests on the GPU (the first of them)             (90 s)
#   generation_tests two tests of tests/test_generation.py that failed there once                     (50 s)
#   utilisation      bench_utilisation.py: synthetic step of inviscid_burgers_2d (128², UNet 4 × 128, batch 32),
#                    float32 and bfloat16, K = 1 and 5: XLA FLOPs, FLOP/s, fraction of peak, memory/sample;
#                    profile of the rest of a cycle (150 s); utilisation_steps: without the profile (100 s);
#                    utilisation_relu_zero: bf16 K 1 with zero padding and ReLU, what those two cost   (45 s)
#   mixed_precision  bench_mixed_precision.py: accuracy cost of bf16 (smoke UNet, 20 epochs, 2 seeds), speed (90 s)
#   reference_2d     bench_reference.py: inviscid_burgers_2d cycles at K 1, 5 and the projected full run (120 s)
#   reference_1d     the same for inviscid_burgers_1d at K 1, 12                                       (80 s)
# Output (RESULTS, default $OUT or benchmarks/results): one JSON per script, gpu_all.log (every part's
# output, appended as it runs) and summary.txt (one line per part: exit code, seconds) — at most 8
# files, as the device tool brings back.
#
# phiflow, phiml and grain are not on the GPU image: run `bash benchmarks/gpu_wheels.sh` HERE first
# (it fills .whl/), carry .whl, and this script installs them offline into /tmp/site. Then, e.g.:
#   run(command="bash benchmarks/gpu_all.sh", carry=[".whl"], timeout_s=600)
# Check it on a CPU first, with tiny sizes and short limits: bash benchmarks/gpu_all.sh --cpu-dry-run [RESULTS]
# --parts a,b,...  runs only those parts (names above; default all but rollout_tests and utilisation_steps).
# Versions: the GPU image's jax may be newer than the one tested here. PhiML's JAX backend imports
# jax.core.Tracer / jax.interpreters.ad.JVPTracer; where those moved, the installed copy is pointed at
# jax._src. If the first part fails, the tested flax/optax/orbax from .whl/fallback/ replace the image's
# and it runs again.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
RESULTS=""
PARTS="smoke_cycle,smoke_cycle_graphs,generation_tests,utilisation,mixed_precision,reference_2d,reference_1d"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-dry-run) DRY=1 ;;
    --parts) PARTS="$2"; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) RESULTS="$1" ;;
  esac
  shift
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
  if ! "$PY" -c "from jax.core import Tracer; from jax.interpreters.ad import JVPTracer" 2>/dev/null; then
    echo "this jax moved Tracer/JVPTracer: pointing PhiML at jax._src" | tee -a "$LOG"
    sed -i -e 's/from jax\.core import Tracer/from jax._src.core import Tracer/' \
      -e 's/from jax\.interpreters\.ad import JVPTracer/from jax._src.interpreters.ad import JVPTracer/' \
      /tmp/site/phiml/backend/jax/_jax_backend.py /tmp/site/phiml/_troubleshoot.py
  fi
fi
# tested flax/optax/orbax instead of the image's (called when the first part fails)
use_fallback() {
  ls .whl/fallback/*.whl >/dev/null 2>&1 || return 1
  echo "installing the tested flax/optax/orbax from .whl/fallback" | tee -a "$LOG"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/fallback/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
}
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
  return "$rc"
}
want() { [[ ",$PARTS," == *",$1,"* ]]; }

B=benchmarks
if [ "$DRY" = 0 ]; then
  want reference_2d && part reference_2d 120 "$PY" $B/bench_reference.py --configs inviscid_burgers_2d --ks 1 5 --epochs 2 \
      --time-limit 110 --out "$RESULTS/bench_reference-inviscid_burgers_2d.json"
  want reference_1d && part reference_1d 80 "$PY" $B/bench_reference.py --configs inviscid_burgers_1d --ks 1 12 --epochs 4 \
      --time-limit 70 --out "$RESULTS/bench_reference-inviscid_burgers_1d.json"
  if want smoke_cycle; then
    part smoke_cycle 50 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch \
      || { use_fallback && part smoke_cycle_fallback 60 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch; }
  fi
  # the same with the whole scan of steps as CUDA graphs (XLA command buffers, loops included)
  want smoke_cycle_graphs && HYBRID_JAX_BENCH_RESULTS="$RESULTS/graphs" XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUDNN,CUSTOM_CALL,CONDITIONAL,WHILE" \
    part smoke_cycle_graphs 50 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch
  # the numerics tests on the GPU (float32 convolutions and matmuls run as TF32 there by default); all 100
  # take about 10 min there (every test compiles), so a short limit runs the first ones
  want rollout_tests && part rollout_tests 90 "$PY" -m pytest -q -rf -p no:cacheprovider -k rollout tests
  want utilisation && part utilisation 150 "$PY" $B/bench_utilisation.py --no-torch
  want utilisation_steps && part utilisation_steps 100 "$PY" $B/bench_utilisation.py --no-torch --no-profile
  # what the periodic padding and GELU cost: the same bf16 step with zero padding and ReLU (cuDNN fuses those)
  want utilisation_relu_zero && HYBRID_JAX_BENCH_RESULTS="$RESULTS/relu_zero" part utilisation_relu_zero 45 \
    "$PY" $B/bench_utilisation.py --no-torch --no-profile --dtypes bfloat16 --horizons 1 \
    --override network.padding=zero network.activation=relu
  want mixed_precision && part mixed_precision 90 "$PY" $B/bench_mixed_precision.py --no-torch
  want generation_tests && part generation_tests 50 "$PY" -m pytest -q -rf --tb=short -p no:cacheprovider \
    tests/test_generation.py -k "save_generated or burgers-real"
else  # the same calls at tiny sizes on the CPU: checks the plumbing, not the figures
  want smoke_cycle && part smoke_cycle 240 "$PY" $B/bench_hybrid_cycle.py --quick --no-torch --smoke-override \
    "physics.resolution=[16,16]" data.num_frames=8 trainer.hybrid.cycles=2 evaluation.horizon=6
  want rollout_tests && part rollout_tests 300 "$PY" -m pytest -q -rf -p no:cacheprovider -k "rollout and smoke" tests
  want utilisation && part utilisation 420 "$PY" $B/bench_utilisation.py --quick --repeats 1 --warmup 0 \
    --steps-per-repeat 1 --horizons 1,2
  want mixed_precision && part mixed_precision 240 "$PY" $B/bench_mixed_precision.py --quick --epochs 1 --override \
    "physics.resolution=[16,16]" data.num_frames=8 data.num_trajectories=4 trainer.batch_size=4 evaluation.horizon=6
  want reference_1d && part reference_1d 300 "$PY" $B/bench_reference.py --configs inviscid_burgers_1d --ks 1 \
    --epochs 1 --cycles 2 --time-limit 200 --out "$RESULTS/bench_reference-inviscid_burgers_1d.json" \
    "physics.resolution=[64]" data.num_frames=16 data.rollout_steps=2 trainer.synthetic.rollout_curriculum.end=2 \
    trainer.hybrid.generation.physical_length=8 trainer.hybrid.generation.synthetic_length=2 trainer.batch_size=8 \
    trainer.physical.epochs=2 evaluation.horizon=8
fi
echo -e "\n===== summary" | tee -a "$LOG"
cat "$SUMMARY"
ls -l "$RESULTS"
