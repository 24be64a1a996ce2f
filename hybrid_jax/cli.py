"""The ``hybrid-jax`` command: ``hybrid-jax <command> [args]``.

    train     train (and evaluate) one config         = python -m hybrid_jax.train
    compare   physical-only, synthetic-only, hybrid   = python -m hybrid_jax.compare
    sweep     a grid of overrides and seeds           = python -m hybrid_jax.sweep
    config    print the key reference, or validate a config and print it resolved
    inspect   summarise a run directory

``hybrid-jax <command> --help`` describes each command's arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import yaml

from hybrid_jax.config import ConfigError, load_config, print_reference, to_dict
from hybrid_jax.metrics import headline


def config_main(argv) -> int:
    p = argparse.ArgumentParser(prog="hybrid-jax config",
                                description="Without a config: print every key (type, default, meaning) as "
                                            "Markdown. With one: validate it and print it resolved as YAML.")
    p.add_argument("config", nargs="?", help="YAML config to validate")
    p.add_argument("--check", action="store_true", help="only validate (print one line)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, as for train")
    args = p.parse_args(argv)
    if args.config is None:
        if args.overrides or args.check:
            p.error("overrides and --check need a config file")
        print_reference()
        return 0
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(f"{args.config}: valid\n" if args.check else yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


def _read_json(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def run_info(run_dir: Path) -> dict:
    """What a run directory holds: its config, progress, checkpoints, final numbers (None where absent)."""
    from hybrid_jax.lifecycle import checkpoint_steps
    from hybrid_jax.run import read_metrics

    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml)")
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{run_dir}/config.yaml: not valid YAML ({e})") from None
    records = read_metrics(run_dir / "metrics.jsonl")
    cycles = [r for r in records if r.get("kind") == "cycle"]
    return {
        "run_dir": str(run_dir), "experiment_name": cfg.get("experiment_name"), "mode": cfg.get("mode"),
        "physics": {k: cfg.get("physics", {}).get(k) for k in ("name", "resolution", "domain", "dt")},
        "cycles_planned": cfg.get("trainer", {}).get("hybrid", {}).get("cycles"),
        "cycles_recorded": len(cycles),
        "last_cycle": {k: v for k, v in (cycles[-1] if cycles else {}).items() if k.endswith("_loss")},
        "checkpoints": checkpoint_steps(run_dir),
        "summary": _read_json(run_dir / "summary.json"),
        "evaluation": _read_json(run_dir / "evaluation.json"),
        "tensorboard": any(run_dir.glob("events.out.tfevents.*")),
    }


def format_info(info: dict) -> str:
    ph = info["physics"]
    lines = [f"{info['run_dir']}: {info['experiment_name']} ({info['mode']}), {ph['name']} "
             f"{ph['resolution']} on {ph['domain']}, dt {ph['dt']}",
             f"  cycles: {info['cycles_recorded']} of {info['cycles_planned']} recorded; checkpoints "
             f"{info['checkpoints'] or 'none'}; TensorBoard events: {'yes' if info['tensorboard'] else 'no'}"]
    lines += [f"  last cycle {k}: {v:.4e}" for k, v in info["last_cycle"].items() if isinstance(v, float)]
    s = info["summary"]
    if s is None:
        lines.append("  no summary.json: the run has not finished")
    else:
        t = {"total": float("nan"), "training": float("nan"), "compilation": float("nan"), **s.get("timings_s", {})}
        lines.append(f"  finished: {t['total']:.1f} s in all ({t['training']:.1f} s training, "
                     f"{t['compilation']:.1f} s compiling)")
        p = s.get("parameters") or {"relative_error": {}}
        lines += [f"  {name}: learned {json.dumps(p['learned'][name])} true {json.dumps(p['true'][name])} "
                  f"(relative error {err:.2%})" for name, err in p["relative_error"].items()]
    for name, m in ((info["evaluation"] or {}).get("models") or {}).items():
        lines.append(f"  {name} rollout over {info['evaluation']['horizon']} steps: {headline(m)}")
    return "\n".join(lines)


def inspect_main(argv) -> int:
    p = argparse.ArgumentParser(prog="hybrid-jax inspect", description="Summarise a run directory.")
    p.add_argument("run_dir", help="a run directory (runs/<experiment_name>)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    try:
        info = run_info(Path(args.run_dir))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=1) if args.json else format_info(info))
    return 0


def _entry(module: str):
    def run(argv) -> int:  # the module's own main: imported only when its command runs
        return importlib.import_module(f"hybrid_jax.{module}").main(argv)

    return run


COMMANDS = {"train": _entry("train"), "compare": _entry("compare"), "sweep": _entry("sweep"),
            "config": config_main, "inspect": inspect_main}


def main(argv=None) -> int:
    program = argv is None  # run as a program (the console script)
    if program:
        from hybrid_jax.backend import reexec_with_process_environment

        reexec_with_process_environment()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; one of {', '.join(COMMANDS)} (hybrid-jax --help)",
              file=sys.stderr)
        return 2
    code = COMMANDS[argv[0]](argv[1:])
    if program and argv[0] == "train":  # summary.json's timings_s.total ends where the process does
        from hybrid_jax.boundary import exit_now

        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
