"""The one Orbax wrapper: cycle checkpoints of both models, saved asynchronously.

A checkpoint holds the train states of both models (parameters, optimiser states, failure
counters) and JSON metadata (next cycle, config hash). Orbax commits a step atomically (it
writes to a temporary folder and renames it), so a half-written checkpoint is never listed.
"""

from __future__ import annotations

from pathlib import Path

import orbax.checkpoint as ocp


class Checkpoints:
    """Checkpoints of a run directory, one per finished cycle (step = number of cycles done)."""

    def __init__(self, directory: str | Path, max_to_keep: int):
        self._mngr = ocp.CheckpointManager(Path(directory).absolute(),
                                           options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))

    def latest(self) -> int | None:
        return self._mngr.latest_step()

    def save(self, step: int, states, meta: dict) -> None:
        """Start saving `states` (a pytree) and `meta` (JSON) as `step`; returns before the write ends."""
        self._mngr.save(step, args=ocp.args.Composite(states=ocp.args.StandardSave(states),
                                                      meta=ocp.args.JsonSave(meta)))

    def restore(self, step: int, template) -> tuple[object, dict]:
        """The states (shaped like `template`) and metadata saved as `step`."""
        out = self._mngr.restore(step, args=ocp.args.Composite(states=ocp.args.StandardRestore(template),
                                                               meta=ocp.args.JsonRestore()))
        return out["states"], out["meta"]

    def close(self) -> None:
        """Wait for pending saves to finish, then release the manager."""
        self._mngr.wait_until_finished()
        self._mngr.close()
