"""The one Orbax wrapper: cycle checkpoints of both models, saved asynchronously and verified on restore.

A checkpoint holds the train states of both models (parameters, optimiser states, failure
counters) and JSON metadata (next cycle, config hash, and the SHA-256 of the states' values).
Orbax commits a step atomically (it writes to a temporary folder and renames it), so a
half-written checkpoint is never listed; a checkpoint corrupted afterwards (a flipped byte, a
truncated file) fails its checksum on restore, is moved aside to ``<dir>.corrupt/<step>`` and
the newest intact one is used instead, with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from hybrid_jax.errors import DataError

log = logging.getLogger("hybrid_jax")


def tree_digest(tree) -> str:
    """SHA-256 of the values, dtypes and shapes of a pytree's leaves (a replicated array: its local copy)."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Checkpoints:
    """Checkpoints of a run directory, one per finished cycle (step = number of cycles done)."""

    def __init__(self, directory: str | Path, max_to_keep: int):
        self.directory = Path(directory).absolute()
        self._mngr = ocp.CheckpointManager(self.directory,
                                           options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))

    def latest(self) -> int | None:
        return self._mngr.latest_step()

    def save(self, step: int, states, meta: dict) -> None:
        """Start saving `states` (a pytree) and `meta` (JSON, plus the states' checksum) as `step`;
        returns before the write ends."""
        meta = {**meta, "sha256": tree_digest(states)}
        self._mngr.save(step, args=ocp.args.Composite(states=ocp.args.StandardSave(states),
                                                      meta=ocp.args.JsonSave(meta)))

    def restore(self, step: int, template) -> tuple[object, dict]:
        """The states (shaped like `template`) and metadata saved as `step`; raises DataError if the
        checkpoint is unreadable or fails its checksum."""
        try:
            out = self._mngr.restore(step, args=ocp.args.Composite(states=ocp.args.StandardRestore(template),
                                                                   meta=ocp.args.JsonRestore()))
        except Exception as e:  # noqa: BLE001 - Orbax/TensorStore raise many types for damaged files
            raise DataError(f"checkpoint {step} is unreadable ({type(e).__name__})") from None
        states, meta = out["states"], out["meta"]
        if not isinstance(meta, dict) or meta.get("sha256") != tree_digest(states):
            raise DataError(f"checkpoint {step} fails its checksum")
        return states, meta

    def restore_intact(self, template) -> tuple[int, object, dict] | None:
        """(step, states, meta) of the newest intact checkpoint, or None if there is none at all.

        Damaged newer ones are moved aside (so later saves can reuse their step numbers), with a
        warning; raises DataError if checkpoints exist but none is intact.
        """
        from hybrid_jax.parallel import is_primary, sync

        damaged = []
        for step in sorted(self._mngr.all_steps(), reverse=True):
            try:
                states, meta = self.restore(step, template)
            except DataError as e:
                damaged.append(str(e))
                if is_primary():
                    aside = self.directory.with_name(self.directory.name + ".corrupt")
                    aside.mkdir(exist_ok=True)
                    os.replace(self.directory / str(step), aside / f"{step}-{os.getpid()}")
                continue
            finally:
                sync("checkpoint_check")
            if damaged:
                self._mngr.reload()
                log.warning("%s; moved aside to %s.corrupt/, resuming from checkpoint %d instead",
                            "; ".join(damaged), self.directory, step)
            return step, states, meta
        if damaged:
            raise DataError(f"{self.directory}: no intact checkpoint ({'; '.join(damaged)}; moved aside to "
                            f"{self.directory}.corrupt/); pass --overwrite to start the run over")
        return None

    def close(self) -> None:
        """Wait for pending saves to finish, then release the manager."""
        self._mngr.wait_until_finished()
        self._mngr.close()
