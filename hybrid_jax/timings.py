"""Where a run's seconds go: ``summary.json``'s ``timings_s``, parts that add up to the total.

A run's time line is cut into consecutive phases (`Timeline.mark`): ``startup`` (from the start
of the process, or of the `run_experiment` call, to the start of the run: interpreter, imports,
config, backend setup), ``generation`` (the data task: real trajectories generated or read),
``training`` (building the experiment, every cycle, checkpoints), ``evaluation`` and ``outputs``
(evaluation.json, plots, summary.json). JAX's tracing, lowering and XLA compilation, wherever
they happen, are taken out of those phases into ``compilation`` (from JAX's monitoring time
spans, overlaps merged). So the parts sum to ``total``: nothing falls between phases. Wall-clock seconds throughout.
"""

from __future__ import annotations

import os
import time

PHASES = ("startup", "generation", "training", "evaluation", "outputs")
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
_pending_start: list[float] = []  # set by an entry point: where the next run's `startup` begins
_compile_spans: list[tuple[float, float]] = []
_listening = False


def process_start() -> float:
    """Wall-clock time (``time.time()``) at which this process started (Linux: its age from /proc, to
    10 ms; an exec keeps it); elsewhere, now."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime, clock ticks since boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()


def starts_at(t: float) -> None:
    """The next run's ``startup`` phase begins at `t` (``time.time()``), e.g. `process_start()`."""
    _pending_start[:] = [t]


def _on_span(event: str, start: float, end: float, **_) -> None:
    if event in COMPILE_EVENTS:
        _compile_spans.append((start, end))


def _listen() -> None:
    global _listening
    if not _listening:
        import jax.monitoring

        jax.monitoring.register_event_time_span_listener(_on_span)
        _listening = True


def _covered(lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by the union of the recorded compile spans."""
    total, reach = 0.0, lo
    for a, b in sorted(_compile_spans):
        a, b = max(a, reach), min(b, hi)
        if b > a:
            total += b - a
            reach = b
    return total


class Timeline:
    """Consecutive phases of one run, from the pending start (or now) on."""

    def __init__(self):
        _listen()
        now = time.time()
        self.start = min(_pending_start[0], now) if _pending_start else now
        _pending_start.clear()
        self.bounds = [("startup", self.start)]
        self.mark("generation", now)

    def mark(self, phase: str, t: float | None = None) -> None:
        """The current phase ends and `phase` begins (now, or at `t`)."""
        self.bounds.append((phase, time.time() if t is None else t))

    def seconds(self) -> dict:
        """``timings_s``: total (start to now) and its parts; the phase in progress ends now."""
        end = time.time()
        parts = dict.fromkeys(PHASES, 0.0)
        compilation = 0.0
        edges = self.bounds + [("", end)]
        for (phase, lo), (_, hi) in zip(edges, edges[1:]):
            compiled = _covered(lo, hi)
            parts[phase] += hi - lo - compiled
            compilation += compiled
        out = {"total": end - self.start, **parts, "compilation": compilation}
        return {k: round(v, 4) for k, v in out.items()}
