"""The singular values of a fresh network's input-output Jacobian (dynamical isometry), measured on real inputs.

Criticality (mean-field chi_1 = 1) keeps the *mean* squared singular value of the Jacobian of the last hidden layer's
output with respect to the first's at 1; training needs more: the whole spectrum near 1, so that no direction of
the gradient vanishes or explodes (Pennington, Schoenholz & Ganguli 2017). For each sample this measures
J = d h_L / d h_1 (a width x width matrix: the product of the hidden layers 2..L's slopes and weights, skips
included) in float64 by autograd, and summarises its singular values over the samples: the mean and standard
deviation of their log10 (the spread, in decades) and the log10 of their mean square, which the theory predicts
(chi_1^(L-1) at the fixed point). A singular value below the largest times 1e-15 is at float64's rounding floor
and left out, so the spread of a badly conditioned product is a lower bound (``floor``: how many were left out).

Measured only where one sample's Jacobian is a function of that sample alone and the backward pass follows it:
not with normalisation over the batch (each output depends on the whole batch), not with gradient normalisation
(the backward pass is not the forward's Jacobian), not in train-some-layers' first stage (a shorter network).
"""

from __future__ import annotations

import copy

import torch

from .models import MLP
from .specs import TrainSpec

FLOOR = 1e-15  # relative to the largest singular value: float64's rounding


def why_not(spec: TrainSpec) -> str | None:
    """Why the Jacobian spectrum is not measured for ``spec``, or None if it is."""
    if spec.model.norm != "none":
        return "normalisation over the batch: one sample's Jacobian depends on the whole batch"
    if spec.model.grad_norm:
        return "gradient normalisation: the backward pass is not the forward's Jacobian"
    if spec.schedule:
        return "train-some-layers: its first stage is a shorter network"
    if spec.model.depth < 2:
        return "one hidden layer: no product of layers"
    return None


def hidden_jacobians(model: MLP, x: torch.Tensor) -> torch.Tensor:
    """(samples, width, width): d h_L / d h_1 at each row of ``x`` (pixels), the model's own dtype."""
    with torch.no_grad():
        first = model.hidden[0](x)

    def rest(h1: torch.Tensor) -> torch.Tensor:
        # the model's forward from layer 2, with its skips (a skip from layer 1 adds h1 itself)
        kept, h = {1: h1}, h1
        for i, layer in enumerate(model.hidden[1 : model.active], start=2):
            h = layer(h)
            if i in model._skip_into:
                h = h + kept[model._skip_into[i]]
            if i in model._keep:
                kept[i] = h
        return h

    return torch.func.vmap(torch.func.jacrev(rest))(first)


def spectrum(model: MLP, x: torch.Tensor) -> dict[str, float]:
    """Summary of the singular values of ``hidden_jacobians`` over the samples of ``x`` (float64, on a copy of the
    model), with ``q_in``: the mean square of the first factor's pre-activations (layer 2's), where the theory's
    prediction of the mean square starts (``theory.jacobian_log_sq_mean``)."""
    model, x = copy.deepcopy(model).double(), x.double()
    with torch.no_grad():
        q_in = model.hidden[1].linear(model.hidden[0](x)).pow(2).mean()
    values = torch.linalg.svdvals(hidden_jacobians(model, x).detach())  # (samples, width), descending
    kept, top = values > values[:, :1] * FLOOR, values.max()
    logs = values[kept].log10()
    return {
        "sv_log_mean": float(logs.mean()),
        "sv_log_std": float(logs.std(unbiased=False)),
        "sv_log_min": float(logs.min()),
        "sv_log_max": float(logs.max()),
        # log10 of the mean square (the rounding floor included), scaled by the largest: no underflow at 1e-340
        "sv_sq_log_mean": float(2 * top.log10() + (values / top).pow(2).mean().log10()),
        "floor": int((~kept).sum()),
        "q_in": float(q_in),
        "samples": len(x),
        "factors": model.active - 1,  # layers in the product: at q*, chi_1 ** factors is the mean square
    }
