#!/usr/bin/env bash
# Download, HERE (a machine with package-index access), the wheels a GPU machine without phiflow, phiml or
# grain needs, into .whl/ at the repository root (git-ignored). `python -m benchmarks gpu` installs them there,
# offline, into /tmp/site. The GPU image (Python 3.12, x86-64) already has jax, flax, optax, orbax, numpy,
# scipy, h5py, matplotlib, absl-py, etils, cloudpickle, protobuf, PyYAML and tqdm.
# Versions: those installed in this environment (the ones the tests ran with).
# Usage: bash benchmarks/gpu_wheels.sh [PYTHON]      (PYTHON: the interpreter to read versions from)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
ver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
mkdir -p .whl
# pure-Python packages (phiflow/phiml may be published as source only): build or fetch a wheel
python3 -m pip wheel -q --no-deps -w .whl "phiflow==$(ver phiflow)" "phiml==$(ver phiml)" "portpicker==1.6.0" "tensorboardX==$(ver tensorboardX)"
# binary packages: CPython 3.12 manylinux x86-64 wheels
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "grain==$(ver grain)" "array_record==$(ver array_record)"
ls -l .whl
