"""Gradient flow at initialisation: per-layer weight-gradient norms of untrained networks, each hidden layer's
forward and backward signal, and the singular values of the hidden stack's Jacobian (``spectra``), no training.

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
from .signals import SIGNALS
from .specs import TrainSpec, from_param, stages
from .spectra import spectrum, why_not
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


def _watch(layer: nn.Module, name: str, sums: dict[str, dict[str, float]]):
    """A forward hook on ``layer``'s activation that adds its signals of one batch (``signals.SIGNALS``) to
    ``sums[name]``; the output layer has no activation, and no signals."""

    def hook(act, inputs, output):
        x = inputs[0].detach()
        with torch.enable_grad():  # the activation's slope at each input, by autograd (any elementwise activation)
            probe = x.clone().requires_grad_(True)
            (slope,) = torch.autograd.grad(act.forward(probe).sum(), probe)  # forward: not this hook again
        flat = x.flatten().double()
        quantiles = torch.quantile(flat, torch.tensor([0.05, 0.95], dtype=torch.float64))
        values = {
            "pre_mean": flat.mean(),
            "pre_std": flat.std(),
            "pre_q05": quantiles[0],
            "pre_q95": quantiles[1],
            "slope": slope.double().mean(),
            "forward_rms": output.detach().double().pow(2).mean().sqrt(),
        }
        for key, value in values.items():
            sums[name][key] = sums[name].get(key, 0.0) + float(value)
        if output.requires_grad:
            output.register_hook(
                lambda g: sums[name].__setitem__(
                    "backward_rms", sums[name].get("backward_rms", 0.0) + float(g.double().pow(2).mean().sqrt())
                )
            )

    return layer.act.register_forward_hook(hook)


def layer_stats(spec: TrainSpec, seed: int, data: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict]:
    """Per trained Linear layer, the mean over ``data``'s batches of its weight-gradient L2 norm at initialisation
    (``grad_norm``) and, for a hidden layer, its forward and backward signals (``SIGNALS``)."""
    torch.manual_seed(seed)
    model = MLP(spec.model)
    apply_stage(model, stages(spec)[0])
    model.train()  # batch statistics, as in training
    linears = [(name, lin) for name, lin in model.linears() if lin.weight.requires_grad]
    trained = {name for name, _ in linears}
    signals: dict[str, dict[str, float]] = {name: {} for name in trained}
    hooks = [
        _watch(layer, f"hidden{i}", signals)
        for i, layer in enumerate(model.hidden[: model.active], start=1)
        if f"hidden{i}" in trained
    ]
    sums = torch.zeros(len(linears), dtype=torch.float64)
    try:
        for x, y in data:
            model.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            sums += norms([lin.weight.grad for _, lin in linears])  # float64: never 0 where the gradient is not
    finally:
        for hook in hooks:
            hook.remove()
    return {
        name: {"grad_norm": float(total) / len(data)}
        | {key: signals[name].get(key, float("nan")) / len(data) for key in SIGNALS}
        for (name, _), total in zip(linears, sums, strict=True)
    }


SPECTRUM_SAMPLES = 8  # inputs per network whose Jacobian's singular values are pooled (the first batch's first)


def jacobian_spectrum(spec: TrainSpec, seed: int, x: torch.Tensor) -> dict | None:
    """``spectra.spectrum`` of the same fresh network as ``layer_stats`` (same seed) at ``x``, or None where a
    sample's Jacobian is not its own (``spectra.why_not``)."""
    if why_not(spec):
        return None
    torch.manual_seed(seed)
    return spectrum(MLP(spec.model), x)


def measure(param: str, split: Split, log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All configurations of ``study.init_flow_param``: one row per (group, variant, depth, seed, layer) of
    gradients and signals, and one per (group, variant, depth, seed) of the Jacobian's spectrum."""
    settings = json.loads(param)
    rows, spectra_rows, started = [], [], time.perf_counter()
    for seed in settings["seeds"]:
        data = {}  # batch size -> this seed's batches, shared by every configuration
        for group, variant, spec_json in settings["specs"]:
            spec = from_param(spec_json)
            if spec.batch_size not in data:
                data[spec.batch_size] = batches(split, seed, settings["batches"], spec.batch_size)
            key = {"group": group, "variant": variant, "depth": spec.model.depth, "seed": seed}
            for layer, values in layer_stats(spec, seed, data[spec.batch_size]).items():
                rows.append(key | {"layer": layer} | values)
            found = jacobian_spectrum(spec, seed, data[spec.batch_size][0][0][:SPECTRUM_SAMPLES])
            if found is not None:
                spectra_rows.append(key | found)
        log(f"seed {seed}: {len(settings['specs'])} networks, {time.perf_counter() - started:.1f} s so far")
    return pd.DataFrame(rows), pd.DataFrame(spectra_rows)
