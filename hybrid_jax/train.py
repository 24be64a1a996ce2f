"""Command-line entry: ``python -m hybrid_jax.train --config configs/smoke.yaml [key=value ...]``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from hybrid_jax.backend import reexec_with_process_environment

if __name__ == "__main__":
    reexec_with_process_environment()  # before the imports below, so that only the re-executed process runs them

from hybrid_jax.config import load_config  # noqa: E402
from hybrid_jax.boundary import parse_cli, run_cli  # noqa: E402
from hybrid_jax.logs import setup_logging  # noqa: E402
from hybrid_jax.metrics import headline  # noqa: E402
from hybrid_jax.timings import process_start, starts_at  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m hybrid_jax.train", description=__doc__)
    p.add_argument("--config", help="YAML config (default: the built-in defaults, a small 2D Burgers run)")
    p.add_argument("--out", help="run directory (default: <output.dir>/<experiment_name>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("--resume", action="store_true",
                   help="require a checkpoint to continue from (without it a run resumes when it finds one)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. trainer.hybrid.alpha=0.3")
    return parse_cli(p, argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    resume = shlex.join(["python", "-m", "hybrid_jax.train", *argv, *([] if "--resume" in argv else ["--resume"])])
    return run_cli(lambda: _main(argv), lambda: f"checkpoints are saved; the unfinished cycle restarts from its "
                                                f"beginning on resume: {resume}")


def _main(argv) -> int:
    starts_at(process_start())  # summary.json's timings_s count from the start of the process
    args = parse_args(argv)
    setup_logging()
    cfg = load_config(args.config, args.overrides)
    run_dir = Path(args.out) if args.out else Path(cfg.output.dir) / cfg.experiment_name
    from hybrid_jax.lifecycle import open_run

    with open_run(cfg, run_dir, args.overwrite, resume=args.resume):  # locked until the run ends
        from hybrid_jax.run import run  # imports JAX/PhiFlow: after the processes are connected

        summary = run(cfg, run_dir)
    if summary:
        print(_final_report(summary, run_dir))
    return 0


def _final_report(summary: dict, run_dir: Path) -> str:
    lines = [f"run {summary['experiment_name']} ({summary['mode']}): {summary['cycles_done']} cycles, "
             f"{summary['timings_s']['total']:.1f} s in all, {summary['timings_s']['compilation']:.1f} s compiling "
             f"(first cycle {summary['first_cycle_s'] or 0:.1f} s incl. "
             f"compilation, later cycles {summary['steady_cycle_s'] or 0:.2f} s each)"]
    lines += [f"  {k}: {v:.4e}" for k, v in summary["final"].items() if isinstance(v, float)]
    p = summary.get("parameters") or {"relative_error": {}}  # absent when the physical model is not trained
    for name, err in p["relative_error"].items():
        lines.append(f"  {name}: learned {json.dumps(p['learned'][name])} true {json.dumps(p['true'][name])} "
                     f"(relative error {err:.2%})")
    for name, ev in summary.get("evaluation", {}).items():
        lines.append(f"  {name} rollout: {headline(ev)}")
    lines.append(f"  outputs in {run_dir}/")
    return "\n".join(lines)


if __name__ == "__main__":
    from hybrid_jax.boundary import exit_now

    exit_now(main())
