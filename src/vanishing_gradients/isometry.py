"""Dynamical isometry at initialisation: the singular values of a deep MLP's Jacobian, for random networks drawn as
an initialisation would draw them (torch-free, numpy).

Criticality (chi_1 = 1, ``theory``) keeps the *mean* squared singular value of the input-output Jacobian at 1; it
says nothing about their spread. Dynamical isometry asks the whole spectrum to stay near 1 (Pennington, Schoenholz
& Ganguli 2017, "Resurrecting the sigmoid in deep learning through dynamical isometry"): that needs orthogonal
weights and a small fixed point q*. A logistic sigmoid never has q* = 0 on its own (its mean output, 1/2, acts as a
large bias); a *centred* sigmoid, whose biases b = -W.1/2 subtract that mean before each layer, is a tanh network in
disguise (sigmoid(x) - 1/2 = tanh(x/2)/2) with slope 1/4 at 0, so it is critical at sigma_w^2 = 16.

This module draws such networks and measures the spread of log10 of the singular values of
J = D_L W_L ... D_1 W_1 (D_l: the activation's slopes at layer l's pre-activations), from an input vector of the
width's size with unit variance. Float64 throughout; a singular value below the largest times 1e-16 is at the
rounding floor, and the spread of a badly conditioned product is a lower bound.

    python -m vanishing_gradients.isometry        # the spreads the deep study's initialisations start from
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .theory import ACTIVATIONS, critical_gain


def orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal n x n matrix (QR of a Gaussian matrix, signs fixed so the law is uniform)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def weights(kind: str, sigma_w2: float, width: int, rng: np.random.Generator) -> np.ndarray:
    """A layer's width x width weights of scale sigma_w^2: Gaussian N(0, sigma_w^2 / width) or sqrt(sigma_w^2) x an
    orthogonal matrix (the same mean squared singular value, sigma_w^2, without spread)."""
    if kind == "gaussian":
        return rng.standard_normal((width, width)) * math.sqrt(sigma_w2 / width)
    if kind == "orthogonal":
        return orthogonal(width, rng) * math.sqrt(sigma_w2)
    raise ValueError(f"weights {kind!r}: gaussian or orthogonal")


def jacobian(
    activation: str,
    sigma_w2: float,
    depth: int,
    width: int = 128,
    kind: str = "gaussian",
    centred: bool = False,
    seed: int = 0,
    q0: float = 1.0,
) -> np.ndarray:
    """The Jacobian of the last hidden layer's output with respect to the first's input, for one random network of
    ``depth`` equal-shape layers with zero biases (``centred``: biases -W.1/2 for a sigmoid, so that each layer
    sees its input minus the sigmoid's mean 1/2) at a random input that gives the first layer's pre-activations the
    variance ``q0``."""
    phi, slope = ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(width) * math.sqrt(q0 / sigma_w2)
    out = np.eye(width)
    for layer in range(depth):
        w = weights(kind, sigma_w2, width, rng)
        # centred: from the second layer on, whose input is a sigmoid's output with its mean 1/2
        u = w @ h - (w @ np.full(width, 0.5) if centred and layer > 0 else 0.0)
        out = (slope(u)[:, None] * w) @ out
        h = phi(u)
    return out


@dataclass(frozen=True)
class Spread:
    """The singular values' log10 statistics of one configuration over seeds: mean and standard deviation (the
    spread, in decades), and the extremes."""

    mean: float
    std: float
    low: float
    high: float


def spread(singular_values: np.ndarray) -> Spread:
    """Log10 statistics of singular values (those at 0 left out: they have no logarithm)."""
    logs = np.log10(singular_values[singular_values > 0])
    if logs.size == 0:
        return Spread(math.nan, math.nan, math.nan, math.nan)
    return Spread(float(logs.mean()), float(logs.std()), float(logs.min()), float(logs.max()))


def spectrum(activation: str, sigma_w2: float, depth: int, seeds=(0, 1, 2), **network) -> Spread:
    """The pooled singular values of ``jacobian`` over ``seeds``, as a ``Spread``."""
    values = [np.linalg.svd(jacobian(activation, sigma_w2, depth, seed=s, **network), compute_uv=False) for s in seeds]
    return spread(np.concatenate(values))


def critical_sigma_w2(activation: str, centred: bool = False) -> float:
    """The weight scale at which a network with q* = 0 (zero biases, an activation through 0, or a centred sigmoid)
    is critical: sigma_w^2 phi'(0)^2 = 1 (tanh 1, centred sigmoid 16, ReLU 2 with its slope 1 on half the units)."""
    if activation == "sigmoid" and not centred:
        raise ValueError("a plain sigmoid has q* > 0 (its mean 1/2 acts as a bias): use theory.edge_of_chaos_std")
    return critical_gain("centred sigmoid" if centred else activation) ** 2


# The configurations of the issue that asks for the deep study: the sigmoid at the Gaussian edge of chaos (N(0, 0.897)
# at width 128: sigma_w^2 = 103), the same scale with orthogonal weights, and the centred orthogonal sigmoid at
# criticality.
CONFIGURATIONS = {
    "sigmoid, Gaussian edge of chaos": dict(activation="sigmoid", sigma_w2=128 * 0.897**2, kind="gaussian"),
    "sigmoid, orthogonal, same scale": dict(activation="sigmoid", sigma_w2=128 * 0.897**2, kind="orthogonal"),
    "centred sigmoid, orthogonal, critical": dict(activation="sigmoid", sigma_w2=16.0, kind="orthogonal", centred=True),
}


def main() -> None:
    depths = (30, 100, 200)
    print("std of log10 singular values of the Jacobian at initialisation (decades), width 128, 3 seeds")
    print(f"{'configuration':<40}" + "".join(f"{d:>10}" for d in depths))
    for name, settings in CONFIGURATIONS.items():
        row = [spectrum(depth=d, **settings).std for d in depths]
        print(f"{name:<40}" + "".join(f"{v:>10.2f}" for v in row))


if __name__ == "__main__":
    main()
