"""Gradient flow at initialisation: per-layer weight-gradient norms of untrained networks, no training.

For every configuration (the baseline and each fix variant) and depth, a fresh network per seed takes a few
real training batches; each batch's gradient is computed from the same initial weights (no update). This
shows each fix's mechanism at any depth in seconds: how much of the output layer's gradient reaches layer 1.

Train-some-layers is measured in its first stage (its first block under a fresh head): while it grows,
every gradient it follows crosses one block, not the whole network. Optimisers do not change a gradient, so
Adam's line equals that of the same network under SGD; Adam acts on the size of the update.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import torch
from torch import nn

from .data import Split
from .gradstats import norms
from .models import MLP
from .specs import TrainSpec, from_param, stages
from .training import apply_stage, pixels


def batches(split: Split, seed: int, count: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` training batches drawn without replacement, in a seeded order. A last batch of one sample is left
    out, as in training: it cannot be normalised over the batch (BatchNorm refuses it). The config check makes sure
    the training split has two samples where a configuration normalises."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[: count * size]
    chunks = order.split(size)
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks = chunks[:-1]
    return [(pixels(split.images[idx]), split.labels[idx]) for idx in chunks]


def layer_norms(spec: TrainSpec, seed: int, data: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Mean over ``data``'s batches of each trained Linear layer's weight-gradient L2 norm, at initialisation."""
    torch.manual_seed(seed)
    model = MLP(spec.model)
    apply_stage(model, stages(spec)[0])
    model.train()  # batch statistics, as in training
    linears = [(name, lin) for name, lin in model.linears() if lin.weight.requires_grad]
    sums = torch.zeros(len(linears), dtype=torch.float64)
    for x, y in data:
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        sums += norms([lin.weight.grad for _, lin in linears])  # float64: never 0 where the gradient is not
    return {name: float(total) / len(data) for (name, _), total in zip(linears, sums, strict=True)}


def measure(param: str, split: Split, log=print) -> pd.DataFrame:
    """All configurations of ``study.init_flow_param``: one row per (group, variant, depth, seed, layer)."""
    settings = json.loads(param)
    rows, started = [], time.perf_counter()
    for seed in settings["seeds"]:
        data = {}  # batch size -> this seed's batches, shared by every configuration
        for group, variant, spec_json in settings["specs"]:
            spec = from_param(spec_json)
            if spec.batch_size not in data:
                data[spec.batch_size] = batches(split, seed, settings["batches"], spec.batch_size)
            for layer, norm in layer_norms(spec, seed, data[spec.batch_size]).items():
                rows.append(
                    {
                        "group": group,
                        "variant": variant,
                        "depth": spec.model.depth,
                        "seed": seed,
                        "layer": layer,
                        "grad_norm": norm,
                    }
                )
        log(f"seed {seed}: {len(settings['specs'])} networks, {time.perf_counter() - started:.1f} s so far")
    return pd.DataFrame(rows)
