"""Per-layer gradient statistics recorded while training, as callbacks of the training loop (``callbacks``), and
the tidy tables of their records.

Everything is accumulated on the training device and moved to the host once per epoch: a per-step
``.item()`` would stall a GPU. Here:

* ``GradientRecorder``: the L2 norm of each ``Linear`` layer's weight gradient every ``step_every`` steps
  (its own ``grad_steps`` record), and per epoch ``grad_norm``, ``grad_abs_mean``, ``weight_norm`` and
  ``update_ratio``;
* ``SaturationMonitor``, on the validation pass: ``saturation`` of each hidden layer.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from .callbacks import EPOCHS, Callback
from .measures import SATURATED_BEYOND


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

    statistics: ClassVar[dict[str, str]] = {
        "grad_norm": "mean over the epoch's recorded steps of the L2 norm of the layer's weight gradient",
        "grad_abs_mean": "mean |grad| of the layer's weights, over every stats_every-th step",
        "weight_norm": "L2 norm of the layer's weights after the epoch",
        "update_ratio": "mean over every stats_every-th step of ||W_after - W_before|| / ||W_before||",
    }

    def end_epoch(self, model, row: dict) -> dict:
        """The epoch's step record (``steps_frame`` makes it a table): compact tensors, one host transfer."""
        self._step_norms = torch.stack(self._norms).cpu() if self._norms else torch.empty(0, len(self.names))
        return {
            "grad_steps": {
                "layers": list(self.names),
                "steps": torch.tensor(self._steps, dtype=torch.long),
                "grad_norm": self._step_norms,
            }
        }

    def epoch_statistics(self, model) -> dict:
        """The epoch's per-layer statistics, from the step norms ``end_epoch`` moved to the host."""
        n = max(self._recorded, 1)
        nan = torch.full((len(self.names),), float("nan"), dtype=torch.float64)
        numel = torch.tensor([float(w.numel()) for w in self.weights], dtype=torch.float64)
        step_norms = self._step_norms
        return {
            "layers": list(self.names),
            "grad_norm": step_norms.mean(0) if len(step_norms) else nan,
            "grad_abs_mean": self._abs_sum.cpu() / numel / n if self._recorded else nan,
            "weight_norm": norms([w.detach() for w in self.weights]).cpu(),
            "update_ratio": self._ratio_sum.cpu() / n if self._recorded else nan,
        }


class SaturationMonitor(Callback):
    """Counts saturated (sigmoid, tanh) or dead (ReLU) units of each hidden layer that trains, on the validation
    pass (a frozen layer of a train-some-layers stage is not counted, as it has no gradient statistics)."""

    statistics: ClassVar[dict[str, str]] = {
        "saturation": "fraction of saturated units on the validation pass (sigmoid: |sigmoid - 0.5| > {1:g}; "
        "tanh: |tanh| > {3:g}); ReLU: fraction of units zero for every validation sample (dead)".format(
            *SATURATED_BEYOND["sigmoid"], *SATURATED_BEYOND["tanh"]
        ),
    }

    def evaluation_hooks(self, model) -> list:
        self._acc: dict[str, list] = {}
        kind = model.spec.activation
        centre, distance = SATURATED_BEYOND.get(kind, (0.0, 0.0))
        handles = []
        for i, layer in enumerate(model.hidden[: model.active], start=1):
            if not layer.linear.weight.requires_grad:
                continue

            def hook(_module, _inputs, out, name=f"hidden{i}"):
                if kind == "relu":  # a unit is dead if it is zero for every sample seen
                    alive = (out > 0).any(0)
                    prev = self._acc.get(name, [None, 0])[0]
                    self._acc[name] = [alive if prev is None else (prev | alive), out.shape[1]]
                    return
                hit = ((out - centre).abs() > distance).sum()
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

    def epoch_statistics(self, model) -> dict:
        fractions = self.fractions()
        # float32, as the table has always held these values
        return {"layers": list(fractions), "saturation": torch.tensor(list(fractions.values()))}


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
    """Epoch records (``epoch_record``, with stage and epoch) -> one row per (stage, epoch, layer, statistic)
    measured, layer by layer in the model's order, the statistics in the callbacks' order."""
    rows = []
    for r in records:
        values, measured = r["values"].tolist(), r["measured"].tolist()
        for i, layer in enumerate(r["layers"]):
            for j, stat in enumerate(r["statistics"]):
                if measured[i][j]:
                    rows.append(
                        {
                            "stage": r["stage"],
                            "epoch": r["epoch"],
                            "layer": layer,
                            "statistic": stat,
                            "value": values[i][j],
                        }
                    )
    return pd.DataFrame(rows, columns=["stage", "epoch", "layer", "statistic", "value"])


FRAMES = {"grad_steps": steps_frame, EPOCHS: epochs_frame}  # record name -> its tidy table
