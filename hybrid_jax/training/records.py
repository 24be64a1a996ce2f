"""Typed results of the training phases (the warm-up, each cycle) and their ``metrics.jsonl`` lines.

Line format (one JSON object per line, read by `run.summarize`, `plots.plot_losses` and tests):
``{"kind": "epoch", "cycle", "model", "epoch", "loss", "horizon"}`` per epoch of a model, then per phase
``{"kind": "cycle", "cycle", "alpha", "timings_s", "<model>_val_loss", "<model>_train_loss"}`` (and
``"reverted": {<model>: bool}`` with trainer.hybrid.reversion enabled) or
``{"kind": "warmup", "cycle": -1, "timings_s", "warmup_train_loss"}``. The warm-up's lines carry
``cycle: -1`` and ``model: "warmup"`` (they precede cycle 0 in the file).
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_jax.experiment import ModelName


def _epoch_lines(cycle: int, model: str, losses: list[float], horizons: list[int] | None) -> list[dict]:
    return [{"kind": "epoch", "cycle": cycle, "model": model, "epoch": e, "loss": loss,
             **({} if horizons is None else {"horizon": horizons[e]})} for e, loss in enumerate(losses)]


@dataclass(frozen=True)
class WarmupResult:
    """The optional warm-up before the first cycle: synthetic epochs on real data only."""

    epoch_losses: list[float]  # mean training loss of each epoch
    seconds: float
    horizons: list[int] | None = None  # rollout horizon K of each epoch

    def lines(self) -> list[dict]:
        """Its ``metrics.jsonl`` lines."""
        line = {"kind": "warmup", "cycle": -1, "timings_s": {"warmup": self.seconds}}
        if self.epoch_losses:
            line["warmup_train_loss"] = self.epoch_losses[-1]
        return _epoch_lines(-1, "warmup", self.epoch_losses, self.horizons) + [line]


@dataclass(frozen=True)
class CycleResult:
    """One cycle of the configured mode (in synthetic / physical mode: one round of that model's epochs)."""

    cycle: int  # 0-based
    alpha: float | None  # weight of generated samples; None outside hybrid mode
    epoch_losses: dict[ModelName, list[float]]  # per trained model: mean training loss of each epoch
    val_losses: dict[ModelName, float]  # per trained model: mean per-window loss on the real validation windows
    timings_s: dict[str, float]  # generate_<model>, train_<model>, validate, cycle (the whole cycle)
    horizons: dict[ModelName, list[int]] | None = None  # per trained model: rollout horizon K of each epoch
    reverted: dict[ModelName, bool] | None = None  # per trained model, with reversion enabled: phase undone

    def train_loss(self, model: ModelName) -> float | None:
        """The model's loss in its last epoch of the cycle (None if it ran no epoch)."""
        losses = self.epoch_losses.get(model)
        return losses[-1] if losses else None

    def lines(self) -> list[dict]:
        """Its ``metrics.jsonl`` lines."""
        epochs = [ln for model, losses in self.epoch_losses.items()
                  for ln in _epoch_lines(self.cycle, model, losses, (self.horizons or {}).get(model))]
        line = {"kind": "cycle", "cycle": self.cycle, "alpha": self.alpha, "timings_s": self.timings_s}
        line.update({f"{model}_val_loss": loss for model, loss in self.val_losses.items()})
        if self.reverted is not None:
            line["reverted"] = self.reverted
        line.update({f"{model}_train_loss": self.train_loss(model) for model in self.epoch_losses
                     if self.train_loss(model) is not None})
        return epochs + [line]


def train_seconds(records: list[dict]) -> float:
    """Training time of a run from its ``metrics.jsonl`` records: the warm-up's and every cycle's seconds
    (generation, training and validation; the first cycle includes compilation; checkpoints excluded)."""
    return float(sum(r["timings_s"]["cycle"] if r["kind"] == "cycle" else r["timings_s"]["warmup"]
                     for r in records if r["kind"] in ("cycle", "warmup")))


def epochs_done(records: list[dict], model: str) -> int:
    """Epochs `model` ran, from a run's ``metrics.jsonl`` records (the synthetic model's include the warm-up's)."""
    names = (model, "warmup") if model == "synthetic" else (model,)
    return sum(r["kind"] == "epoch" and r["model"] in names for r in records)
