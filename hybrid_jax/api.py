"""The Python API behind the package's top-level names (see README, "Use as a library").

`run_experiment` runs a config's tasks and returns a `RunResult`; `load_run` reads a finished run back
(config, learned physical parameters, and rollout callables of both models); `simulate` rolls a
PDE out from initial states.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from hybrid_jax.config import Config, ConfigError, load_config


@dataclass(frozen=True)
class RunResult:
    """What a run produced: `summary` (as in ``summary.json``; empty for the generate task alone),
    `learned` (the physical parameters, host arrays; empty for an interaction-coupling run, whose summary
    has them), `evaluation` (as in ``evaluation.json``, or
    None) and the run directory with its files."""

    config: Config
    run_dir: Path
    summary: dict
    learned: dict[str, np.ndarray]
    evaluation: Optional[dict]

    @property
    def paths(self) -> dict[str, Path]:
        """The run directory's outputs by name (config, metrics, summary, evaluation, checkpoints, plots)."""
        names = {"config": "config.yaml", "metrics": "metrics.jsonl", "summary": "summary.json",
                 "evaluation": "evaluation.json", "checkpoints": "checkpoints", "plots": "plots", "log": "train.log"}
        return {k: self.run_dir / v for k, v in names.items() if (self.run_dir / v).exists()}


@dataclass(frozen=True)
class LoadedRun:
    """A finished run read back from its directory.

    `params` are the learned physical parameters (float32 arrays); `synthetic(x0, steps)` and
    `physical(x0, steps)` roll the trained network and the PDE with those parameters out from
    initial states ``[B, *spatial, C]`` and return ``[B, steps, *spatial, C]`` (x0 excluded).
    `summary` and `evaluation` are ``summary.json`` and ``evaluation.json`` as dicts (None where the
    run wrote none); their keys: docs/outputs.md.
    """

    config: Config
    pde: object
    params: dict[str, jax.Array]
    true_params: dict[str, jax.Array]
    synthetic: Callable[[jax.Array, int], jax.Array] = field(repr=False)
    physical: Callable[[jax.Array, int], jax.Array] = field(repr=False)
    summary: Optional[dict] = None
    evaluation: Optional[dict] = None


def _as_config(config, overrides) -> Config:
    if isinstance(config, Config):
        if overrides:
            raise ConfigError("overrides: give them with a config path or dict, not with a Config object")
        return config
    if isinstance(config, dict):
        from hybrid_jax.config import apply_overrides, config_from_dict

        return config_from_dict(apply_overrides(config, list(overrides)))
    return load_config(config, list(overrides))


def run_experiment(config: Config | str | Path | dict | None = None, run_dir: str | Path | None = None, *,
        overrides: tuple[str, ...] = (), overwrite: bool = False) -> RunResult:
    """Run the tasks of `config` (a Config, a YAML path, a dict, or None for the defaults, with
    dotted `overrides`) in `run_dir` (default ``<output.dir>/<experiment_name>``), as the CLI does."""
    from hybrid_jax.lifecycle import has_checkpoints, open_run
    from hybrid_jax.run import run as run_tasks
    from hybrid_jax.timings import starts_at

    starts_at(time.time())  # the summary's timings_s count from this call
    cfg = _as_config(config, overrides)
    run_dir = Path(run_dir) if run_dir is not None else Path(cfg.output.dir) / cfg.experiment_name
    with open_run(cfg, run_dir, overwrite):  # the run directory stays locked while the run writes it
        summary = run_tasks(cfg, run_dir)
    learned = {}
    if has_checkpoints(run_dir) and cfg.trainer.hybrid.coupling != "interaction":  # (an interaction run's: summary)
        learned = {k: np.asarray(v) for k, v in load_run(run_dir).params.items()}
    evaluation_file = run_dir / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text()) if evaluation_file.is_file() else None
    return RunResult(cfg, run_dir, summary, learned, evaluation)


def load_run(run_dir: str | Path) -> LoadedRun:
    """Read a run back: its config, its newest intact checkpoint's learned physical parameters, and
    jitted rollout callables of both trained models (on the default device). A damaged newer checkpoint
    is moved aside with a warning, as a resumed run does (`hybrid_jax.lifecycle.restore_trained`)."""
    from hybrid_jax.lifecycle import restore_trained
    from hybrid_jax.physics import build_pde
    from hybrid_jax.physics.base import decode_physical
    from hybrid_jax.training.models import physical_model, synthetic_model
    from hybrid_jax.training.steps import init_state

    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    pde = build_pde(cfg.physics)
    _, syn_params, syn_predict, syn_tx = synthetic_model(pde, cfg)
    phy_params, phy_predict, phy_tx = physical_model(pde, cfg.physics, cfg.trainer.physical)
    template = {"synthetic": init_state(syn_params, syn_tx), "physical": init_state(phy_params, phy_tx)}
    states = restore_trained(cfg, run_dir, template)
    syn, phy = states["synthetic"].params, states["physical"].params
    synthetic = jax.jit(lambda x0, steps: syn_predict(syn, jnp.asarray(x0, jnp.float32), steps), static_argnums=1)
    physical = jax.jit(lambda x0, steps: phy_predict(phy, jnp.asarray(x0, jnp.float32), steps), static_argnums=1)
    outputs = {name: json.loads(f.read_text()) if (f := run_dir / f"{name}.json").is_file() else None
               for name in ("summary", "evaluation")}
    return LoadedRun(cfg, pde, decode_physical(pde, phy), pde.true_params(), synthetic, physical, **outputs)


def simulate(pde, x0: jax.Array, steps: int, params: dict | None = None) -> jax.Array:
    """Roll `pde` out from initial states ``[B, *spatial, C]`` for `steps` steps with `params`
    (default: its true parameters), jitted and vmapped; returns ``[B, steps, *spatial, C]``."""
    from hybrid_jax.rollout import batched_physics_step, rollout

    params = pde.true_params() if params is None else params
    fn = jax.jit(lambda x, p: rollout(batched_physics_step(pde, p), x, steps, unroll=False))
    return fn(jnp.asarray(x0, jnp.float32), params)
