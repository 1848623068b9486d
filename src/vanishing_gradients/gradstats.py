"""Per-layer gradient statistics recorded while training, as callbacks of the training loop.

Everything is accumulated on the training device and moved to the host once per epoch: a per-step
``.item()`` would stall a GPU. Recorded for every ``Linear`` layer in use:

* ``GradientRecorder``, every ``step_every`` steps: the L2 norm of the weight gradient (``grad_norm``);
  every epoch: the mean of those norms, the weight norm after the epoch (``weight_norm``) and, from every
  ``stats_every``-th step, mean |grad| (``grad_abs_mean``) and the mean update-to-weight ratio
  ||W_after - W_before|| / ||W_before|| of a step (``update_ratio``). Norms are accumulated in float64,
  so a gradient that is not 0 never reads 0;
* ``SaturationMonitor``, on the validation pass: the fraction of saturated units (|sigmoid - 0.5| > 0.49,
  |tanh| > 0.99) or, for ReLU, of dead units (zero for every validation sample) (``saturation``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .measures import EPOCH_STATISTICS


class Callback:
    """A hook into the training loop (training.Trainer). A new statistic is a new callback, not a loop edit.

    Per epoch: ``start_epoch``; per step ``before_step`` (after ``backward()``, before the optimiser step)
    and ``after_step``; the validation pass with the forward hooks of ``evaluation_hooks``; then
    ``end_epoch``, which may add columns to the epoch's metrics row and records to its ``records``.
    ``state_dict``/``load_state_dict`` carry what the callback must keep across a checkpoint; ``close`` runs
    when the run ends (also when it fails).
    """

    def start_epoch(self, model) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def evaluation_hooks(self, model) -> list:
        return []

    def end_epoch(self, model, row: dict, records: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def close(self) -> None:
        pass


def norms(tensors) -> torch.Tensor:
    """L2 norm of each tensor, accumulated in float64: a non-zero float32 gradient never reads 0.

    In float32 the squares of elements below ~1e-19 fall under the smallest float32 (1.2e-38 once subnormals
    are flushed), so ``torch.linalg.vector_norm`` of a 128x128 tensor of 1e-25 returns 0.0; in float64 it is
    1.28e-23, as it should be.
    """
    return torch.stack([torch.linalg.vector_norm(t, dtype=torch.float64) for t in tensors])


class GradientRecorder(Callback):
    """Per-layer gradient statistics: norms every ``step_every`` steps, the costlier ones every ``stats_every``.

    The mean |grad| and the update-to-weight ratio need a pass over every gradient and a copy of every weight
    around the optimiser step; measured on the CPU, doing them at every step cost ~20% of a 7-layer epoch.
    """

    def __init__(self, step_every: int = 1, stats_every: int = 1):
        if step_every < 1 or stats_every < 1:
            raise ValueError(f"step_every and stats_every must be >= 1, got {step_every} and {stats_every}")
        self.step_every, self.stats_every = step_every, stats_every
        self.global_step = 0

    def state_dict(self) -> dict:
        return {"global_step": self.global_step}

    def load_state_dict(self, state: dict) -> None:
        self.global_step = state["global_step"]

    def start_epoch(self, model) -> None:
        """Pick up the layers that train in this epoch (the set changes between train-some-layers stages)."""
        self.names, self.weights = [], []
        for name, linear in model.linears():
            if linear.weight.requires_grad:
                self.names.append(name)
                self.weights.append(linear.weight)
        self._values = [w.detach() for w in self.weights]  # views: they follow the in-place updates
        self._before = [torch.empty_like(w) for w in self.weights]  # reused every step: no allocation
        self._steps, self._norms = [], []
        device = self.weights[0].device
        self._abs_sum = torch.zeros(len(self.weights), device=device, dtype=torch.float64)
        self._ratio_sum = torch.zeros_like(self._abs_sum)
        self._recorded = 0
        self._pending = False

    # Per step: buffers reused, fused ``_foreach`` kernels where they were measured faster.
    def before_step(self) -> None:
        step = self.global_step
        if step % self.step_every == 0:
            self._norms.append(norms([w.grad for w in self.weights]))
            self._steps.append(step)
        if step % self.stats_every == 0:
            grads = [w.grad for w in self.weights]
            # sum |grad| per layer, made a mean at the epoch's end (abs().sum(): 2x faster than an L1 norm)
            self._abs_sum += torch.stack([g.abs().sum(dtype=torch.float64) for g in grads])
            torch._foreach_copy_(self._before, self._values)
            self._before_norm = norms(self._values)
            self._pending = True

    def after_step(self) -> None:
        if self._pending:
            torch._foreach_sub_(self._before, self._values)  # now W_before - W_after
            self._ratio_sum += norms(self._before) / self._before_norm
            self._recorded += 1
            self._pending = False
        self.global_step += 1

    def end_epoch(self, model, row: dict, records: dict) -> None:
        """The epoch's step and epoch records: compact tensors, one host transfer for the epoch.

        ``steps_frame``/``epochs_frame`` turn lists of these records into tidy tables.
        """
        n = max(self._recorded, 1)
        nan = torch.full((len(self.names),), float("nan"), dtype=torch.float64)
        numel = torch.tensor([float(w.numel()) for w in self.weights], dtype=torch.float64)
        step_norms = torch.stack(self._norms).cpu() if self._norms else torch.empty(0, len(self.names))
        records["grad_steps"] = {
            "layers": list(self.names),
            "steps": torch.tensor(self._steps, dtype=torch.long),
            "grad_norm": step_norms,
        }
        records["grad_epochs"] = {
            "layers": list(self.names),
            "grad_norm": step_norms.mean(0) if len(step_norms) else nan,
            "grad_abs_mean": self._abs_sum.cpu() / numel / n if self._recorded else nan,
            "weight_norm": norms([w.detach() for w in self.weights]).cpu(),
            "update_ratio": self._ratio_sum.cpu() / n if self._recorded else nan,
            "saturation": nan.clone(),  # filled in by SaturationMonitor
        }


class SaturationMonitor(Callback):
    """Counts saturated (sigmoid, tanh) or dead (ReLU) units of each active hidden layer on the validation pass.

    Runs after ``GradientRecorder`` in the callback list: it fills in the ``saturation`` of its epoch record.
    """

    def evaluation_hooks(self, model) -> list:
        self._acc: dict[str, list] = {}
        kind = model.spec.activation
        handles = []
        for i, layer in enumerate(model.hidden[: model.active], start=1):

            def hook(_module, _inputs, out, name=f"hidden{i}"):
                if kind == "relu":  # a unit is dead if it is zero for every sample seen
                    alive = (out > 0).any(0)
                    prev = self._acc.get(name, [None, 0])[0]
                    self._acc[name] = [alive if prev is None else (prev | alive), out.shape[1]]
                    return
                hit = ((out - 0.5).abs() > 0.49).sum() if kind == "sigmoid" else (out.abs() > 0.99).sum()
                counts = self._acc.setdefault(name, [0, 0])
                counts[0] = counts[0] + hit
                counts[1] += out.numel()

            handles.append(layer.act.register_forward_hook(hook))
        self._relu = kind == "relu"
        return handles

    def fractions(self) -> dict[str, float]:
        if self._relu:
            return {name: 1.0 - float(alive.float().mean()) for name, (alive, _) in self._acc.items()}
        return {name: float(hit) / total for name, (hit, total) in self._acc.items() if total}

    def end_epoch(self, model, row: dict, records: dict) -> None:
        saturation = self.fractions()
        epoch = records["grad_epochs"]
        epoch["saturation"] = torch.tensor([saturation.get(name, float("nan")) for name in epoch["layers"]])


# ------------------------------------------------------------------------------------- tidy tables
def steps_frame(records: list[dict]) -> pd.DataFrame:
    """Step records (with stage and epoch) -> one row per (stage, epoch, step, layer)."""
    frames = []
    for r in records:
        n_steps, n_layers = len(r["steps"]), len(r["layers"])
        frames.append(
            pd.DataFrame(
                {
                    "stage": r["stage"],
                    "epoch": r["epoch"],
                    "step": np.repeat(r["steps"].numpy(), n_layers),
                    "layer": np.tile(np.array(r["layers"], dtype=object), n_steps),
                    "grad_norm": r["grad_norm"].numpy().astype(np.float64).reshape(-1),
                }
            )
        )
    columns = ["stage", "epoch", "step", "layer", "grad_norm"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def epochs_frame(records: list[dict]) -> pd.DataFrame:
    """Epoch records -> one row per (stage, epoch, layer, statistic); saturation only where measured."""
    rows = []
    for r in records:
        for col, layer in enumerate(r["layers"]):
            for stat in EPOCH_STATISTICS:
                value = float(r[stat][col])
                if not (stat == "saturation" and np.isnan(value)):
                    rows.append(
                        {"stage": r["stage"], "epoch": r["epoch"], "layer": layer, "statistic": stat, "value": value}
                    )
    return pd.DataFrame(rows, columns=["stage", "epoch", "layer", "statistic", "value"])


FRAMES = {"grad_steps": steps_frame, "grad_epochs": epochs_frame}  # record name -> its tidy table
