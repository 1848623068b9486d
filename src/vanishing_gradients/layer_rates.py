"""Per-layer learning rates (``TrainSpec.layer_lr``): a control for "depth, not the learning rate".

At PyTorch's default init each sigmoid layer below the output shrinks the weight gradient about sevenfold, so one
global SGD rate is too small for the first layers or too large for the last. ``init_gradient`` scales each Linear
layer's rate by the output layer's weight-gradient norm over its own, measured at initialisation (geometric mean over
a few training batches, drawn with a generator of their own so that the run's shuffle is untouched), capped at
``layer_cap``: every layer then starts with an update of about the same size. If the 7-layer sigmoid trains with
them, the learning rate's distribution over depth was the problem, as Adam's per-parameter rates suggest.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .gradstats import norms

PROBE_BATCHES = 4  # batches of the training split the factors are measured on


def init_gradient_factors(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, cap: float
) -> dict[str, float]:
    """Layer name (``model.linears()``) -> min(cap, ||grad W_output|| / ||grad W_layer||) at initialisation, the
    geometric mean over ``PROBE_BATCHES`` batches; measured on a copy, so the model (and its batch norms' running
    statistics) stays as it was."""
    probe = copy.deepcopy(model)
    probe.train()
    own = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=own)[: PROBE_BATCHES * batch_size].to(x.device)
    logs: dict[str, list[float]] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        probe.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(probe(x[idx]), y[idx]).backward()
        names, linears = zip(*probe.linears(), strict=True)
        sizes = dict(zip(names, norms([linear.weight.grad for linear in linears]).tolist(), strict=True))
        for name, norm in sizes.items():
            ratio = sizes["output"] / norm if norm > 0 else math.inf
            logs.setdefault(name, []).append(math.log(min(cap, ratio)))
    return {name: min(cap, math.exp(sum(values) / len(values))) for name, values in logs.items()}


def param_groups(model: nn.Module, lr: float, factors: dict[str, float]) -> list[dict]:
    """The optimiser's parameter groups: each Linear layer that trains at lr x its factor (weight and bias), every
    other trainable parameter (batch norms' scales and shifts) at lr."""
    groups, seen = [], set()
    for name, linear in model.linears():
        params = [p for p in linear.parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": lr * factors.get(name, 1.0)})
            seen.update(id(p) for p in params)
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    return groups + ([{"params": rest, "lr": lr}] if rest else [])
