"""Mean-field theory of a deep MLP at initialisation: what the gradient should do, layer by layer (torch-free).

For hidden layers of width N with weights of variance sigma_w^2 / N and biases of variance sigma_b^2, the pre-
activations are Gaussian in the wide limit and their variance q follows the map q <- sigma_w^2 E[phi(sqrt(q) z)^2] +
sigma_b^2 (z ~ N(0, 1)) to a fixed point q* (Poole et al. 2016, "Exponential expressivity in deep neural networks
through transient chaos"). Back-propagated through one layer at q*, the squared gradient is multiplied by chi_1 =
sigma_w^2 E[phi'(sqrt(q*) z)^2], its norm by sqrt(chi_1) (Schoenholz et al. 2017, "Deep Information Propagation"). A
weight gradient is that backward signal times the layer's input, whose size is kept at q* > 0: its norm changes by
sqrt(chi_1) per layer too; where q* is 0 (tanh or ReLU without biases in the ordered phase) the input shrinks as
fast and the weight gradient keeps its size. chi_1 < 1 is the ordered phase (gradients vanish towards the input),
chi_1 > 1 the chaotic one (they explode), chi_1 = 1 the edge of chaos. The squared gradient changes by e every xi =
1 / |ln chi_1| layers, the gradient's depth scale; in the ordered phase it equals the correlation depth scale below
which Schoenholz et al. found networks trainable (up to about 6 xi; ``correlation_depth_scale``, both phases).

    python -m vanishing_gradients.theory        # the study's initialisations, and the sigmoid's edge of chaos
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .specs import ModelSpec, weight_std


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow


def _sigmoid_slope(x):
    s = _sigmoid(x)
    return s * (1.0 - s)


# phi and phi' of each activation the theory covers (linear: the case that can be solved by hand).
ACTIVATIONS = {
    "sigmoid": (_sigmoid, _sigmoid_slope),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "linear": (lambda x: x, np.ones_like),
    # the centred sigmoid (ModelSpec.center): each layer's bias -W.1/2 removes the mean of 1/2 from its input, so the
    # network is one of phi(x) = sigmoid(x) - 1/2 = tanh(x/2)/2 without biases
    "centred sigmoid": (lambda x: _sigmoid(x) - 0.5, _sigmoid_slope),
}

SATURATING = ("sigmoid", "tanh", "centred sigmoid")  # their slope vanishes away from 0

# z ~ N(0, 1) on a fine grid: the trapezoid rule resolves a steep sigmoid (sqrt(q) ~ 100) and ReLU's kink alike.
_Z = (np.arange(-24_000, 24_000) + 0.5) * 5e-4  # midpoints: symmetric, and z = 0 (ReLU's kink) off the grid
_W = np.exp(-0.5 * _Z**2)
_W /= _W.sum()


# Beyond sqrt(q) = 250 the z grid samples x = sqrt(q) z more than 0.125 apart; far beyond, it misses a slope that
# is nonzero only near x = 0 (chi_1 of sigmoid and tanh fell to 0 at N(0, 10^8) weights): such a bump is
# integrated in x instead.
_STEEP = 250.0
_X = (np.arange(-12_000, 12_000) + 0.5) * 5e-3  # |x| < 60: a sigmoid's or tanh's slope^2 is below e^-120 beyond


def gaussian_mean(f, q: float, bump: bool = False) -> float:
    """E[f(sqrt(q) z)] for z ~ N(0, 1); ``bump``: f is negligible for |x| > 60 (a saturating activation's slope),
    so that a very wide Gaussian is integrated in x = sqrt(q) z instead."""
    scale = math.sqrt(q)
    if bump and scale > _STEEP:  # E = integral of f(x) N(x; 0, q) dx
        density = np.exp(-0.5 * (_X / scale) ** 2) * (5e-3 / (scale * math.sqrt(2 * math.pi)))
        return float(np.sum(density * f(_X)))
    return float(np.sum(_W * f(scale * _Z)))  # not np.dot: a BLAS call spins threads on a busy machine


def fixed_point(activation: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> float:
    """q*, the pre-activation variance the layers converge to (iterated from ``q0``): 0 if it decays to 0,
    infinite if it grows without bound (an unbounded activation such as ReLU with sigma_w^2 > 2)."""
    phi, _ = ACTIVATIONS[activation]
    q, previous = q0, math.inf
    for _ in range(3_000):
        new = sigma_w2 * gaussian_mean(lambda x: phi(x) ** 2, q) + sigma_b2
        if new < 1e-30:
            return 0.0
        if new > 1e100:
            return math.inf
        if abs(new - q) <= 1e-12 * new:
            return new
        q, previous = new, q
    if q < 1e-3 and q < previous:  # at the critical point (tanh, sigma_w^2 = 1, no bias) q decays as 1/depth
        return 0.0
    raise ArithmeticError(f"{activation}: q did not converge (sigma_w^2 {sigma_w2}, sigma_b^2 {sigma_b2})")


def chi_1(activation: str, sigma_w2: float, sigma_b2: float, q_star: float | None = None) -> float:
    """The factor of the squared gradient per layer at the fixed point (``q_star`` if already known)."""
    _, slope = ACTIVATIONS[activation]
    q_star = fixed_point(activation, sigma_w2, sigma_b2) if q_star is None else q_star
    # At q* = 0 the limit q -> 0+ (tanh: phi'(0)^2 = 1; ReLU's slope does not depend on the scale, nor at q* = inf)
    q = min(max(q_star, 1e-300), 1e100)
    return sigma_w2 * gaussian_mean(lambda x: slope(x) ** 2, q, bump=activation in SATURATING)


@dataclass(frozen=True)
class Prediction:
    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi_1: float
    signal_ratio: float = 1.0  # E[x^2] of a layer's input over that of the layer below it: 1 at a finite q* > 0

    @property
    def backward_factor(self) -> float:
        """The back-propagated signal's norm factor per layer towards the input: sqrt(chi_1)."""
        return math.sqrt(self.chi_1)

    @property
    def factor(self) -> float:
        """A weight gradient's norm factor per layer towards the input (1/7.07: sevenfold smaller), what the study
        measures. A weight gradient is the backward signal times the layer's input: at a fixed point q* > 0 the
        input keeps its size and the factor is sqrt(chi_1); where q* is 0 (or infinite) the forward signal shrinks
        (or grows) layer by layer too, and the factor is sqrt(chi_1 / signal_ratio)."""
        return math.sqrt(self.chi_1 / self.signal_ratio) if self.signal_ratio > 0 else math.inf

    @property
    def depth_scale(self) -> float:
        """xi = 1 / |ln chi_1| layers (infinite at the edge of chaos; 0 where chi_1 is 0 or infinite)."""
        if abs(self.chi_1 - 1.0) < 1e-9:
            return math.inf
        if self.chi_1 <= 0 or math.isinf(self.chi_1):
            return 0.0  # the gradient changes without bound in one layer
        return 1.0 / abs(math.log(self.chi_1))

    @property
    def phase(self) -> str:
        """'ordered', 'chaotic', or 'edge of chaos' within 1% of chi_1 = 1 (a depth scale of 100 layers or more)."""
        return "ordered" if self.chi_1 < 0.99 else "chaotic" if self.chi_1 > 1.01 else "edge of chaos"


def signal_ratio(activation: str, sigma_w2: float, q_star: float) -> float:
    """How much E[x^2] (x = phi(h), a layer's output) grows per layer, in the limit the variance q tends to: 1 at a
    finite q* > 0; at q* = 0 or infinity the slope sigma_w^2 E[phi(sqrt(q) z)^2] / q of the variance map there."""
    if 0 < q_star < math.inf:
        return 1.0
    phi, _ = ACTIVATIONS[activation]
    q = 1e-24 if q_star == 0 else 1e100
    return sigma_w2 * gaussian_mean(lambda x: phi(x) ** 2, q) / q


def predict(activation: str, sigma_w2: float, sigma_b2: float = 0.0) -> Prediction:
    q = fixed_point(activation, sigma_w2, sigma_b2)
    ratio = signal_ratio(activation, sigma_w2, q)
    return Prediction(activation, sigma_w2, sigma_b2, q, chi_1(activation, sigma_w2, sigma_b2, q), ratio)


def jacobian_log_sq_mean(activation: str, sigma_w2: float, sigma_b2: float, q_in: float, layers: int) -> float:
    """log10 of the mean squared singular value of the Jacobian of ``layers`` layers whose first pre-activations have
    the mean square ``q_in``: the product of each layer's sigma_w^2 E[phi'(sqrt(q_l) z)^2], q_l following the
    variance map (chi_1^layers once q has reached q*; a network that starts away from q* has the factors of its way
    there). In log10: 200 sigmoid layers at the default init multiply it by 1e-340, below float64's range."""
    phi, slope = ACTIVATIONS[activation]
    log_total, q = 0.0, q_in
    for _ in range(layers):
        factor = sigma_w2 * gaussian_mean(lambda x: slope(x) ** 2, max(q, 1e-300), bump=activation in SATURATING)
        if factor <= 0:
            return -math.inf
        log_total += math.log10(factor)
        q = sigma_w2 * gaussian_mean(lambda x: phi(x) ** 2, q) + sigma_b2
    return log_total


def variances(spec: ModelSpec) -> tuple[float, float]:
    """(sigma_w^2, sigma_b^2) of the equal-shape hidden layers (fan_in = fan_out = width) of ``spec``'s init.

    PyTorch's default Linear init draws weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), of variance
    1 / (3 fan_in): sigma_w^2 = 1/3, sigma_b^2 = 1 / (3 width). The normal inits zero the biases.
    """
    std = weight_std(spec, spec.width, spec.width)
    if std is None:  # a centred layer's bias is -W.1/2: it belongs to the centred activation, not to sigma_b^2
        return 1.0 / 3.0, 0.0 if spec.center else 1.0 / (3.0 * spec.width)
    return spec.width * std**2, 0.0


def activation_of(spec: ModelSpec) -> str:
    """The activation of the mean-field map: the centred sigmoid where ``spec.center``."""
    return "centred sigmoid" if spec.center else spec.activation


# The model settings the mean-field theory accounts for. A configuration that sets any other one away from its
# default is outside the theory: a new mechanism (a new fix's setting) gets no prediction rather than a wrong one.
COVERED_SETTINGS = ("depth", "width", "activation", "init", "init_std", "init_gain", "center", "in_features", "classes")
OUTSIDE = {
    "norm": "normalisation rescales every layer's pre-activations by the batch's statistics",
    "skips": "a skip adds a path around layers, so the gradient is not a product of per-layer factors",
    "grad_norm": "the backward pass rescales the gradient after every activation",
}


def not_covered(spec: ModelSpec, schedule=None) -> str | None:
    """Why the theory does not predict this configuration's gradient at initialisation, or None if it does: only a
    plain stack (every setting outside ``COVERED_SETTINGS`` at its default, one stage) of an activation it maps."""
    if schedule:
        return "trained block by block: each gradient crosses one block under a fresh head"
    plain = type(spec)(depth=spec.depth)
    for field in dataclasses.fields(spec):
        if field.name not in COVERED_SETTINGS and getattr(spec, field.name) != getattr(plain, field.name):
            return OUTSIDE.get(field.name, f"the theory does not model the setting `{field.name}`")
    if spec.activation not in ACTIVATIONS:
        return f"no mean-field map for {spec.activation}"
    return None


def for_spec(spec: ModelSpec) -> Prediction:
    return predict(activation_of(spec), *variances(spec))


def critical_gain(activation: str = "sigmoid", sigma_b2: float = 0.0) -> float:
    """sigma_w at which chi_1 = 1 (bisection on log sigma_w^2): the gain of an orthogonal init, or sqrt(fan_in) x the
    std of a Gaussian one, at the edge of chaos. Tanh: 1; ReLU: sqrt(2); the centred sigmoid: 4 (its slope at 0 is
    1/4); the plain sigmoid without biases: 10.1 (its mean of 1/2 acts as a large random bias, so q* > 0)."""
    phi, slope = ACTIVATIONS[activation]
    if sigma_b2 == 0 and float(phi(np.zeros(1))[0]) == 0:
        # q* = 0 on the ordered side, where chi_1 = sigma_w^2 E[phi'(sqrt(q) z)^2] as q -> 0: the fixed point's
        # iteration converges ever slower as chi_1 -> 1, the limit is exact
        return 1.0 / math.sqrt(gaussian_mean(lambda x: slope(x) ** 2, 1e-24))
    low, high = 1e-3, 1e6  # sigma_w^2: chi_1 grows with it for the saturating activations
    if not chi_1(activation, low, sigma_b2) < 1 < chi_1(activation, high, sigma_b2):
        raise ValueError(f"{activation}: chi_1 does not cross 1 between sigma_w^2 {low} and {high}")
    for _ in range(80):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if chi_1(activation, mid, sigma_b2) < 1 else (low, mid)
    return math.sqrt(math.sqrt(low * high))


def edge_of_chaos_std(activation: str = "sigmoid", width: int = 128, sigma_b2: float = 0.0) -> float:
    """The std of N(0, std) weights at which chi_1 = 1 for hidden layers of ``width``."""
    return critical_gain(activation, sigma_b2) / math.sqrt(width)


def pair_mean(f, g, q: float, c: float) -> float:
    """E[f(u1) g(u2)] for u1, u2 jointly Gaussian with variance ``q`` each and correlation ``c``: a midpoint grid
    in (z1, z2), u1 = sqrt(q) z1, u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)."""
    scale = math.sqrt(q)
    # Half a unit of x = sqrt(q) z per step at most: the sigmoid's and tanh's poles lie pi off the real line, so the
    # grid's error is about e^(-2 pi^2) (below 1e-15) for a steep one as for a flat one.
    step = min(0.1, 0.5 / scale)
    z = (np.arange(-math.ceil(7 / step), math.ceil(7 / step)) + 0.5) * step  # |z| < 7: the tails add < 1e-11
    w = np.exp(-0.5 * z**2)
    w /= w.sum()
    u2 = scale * (c * z[:, None] + math.sqrt(max(1.0 - c * c, 0.0)) * z[None, :])
    return float(np.sum(w * f(scale * z) * np.sum(g(u2) * w, axis=1)))  # not np.dot: no BLAS threads


def correlation_fixed_point(activation: str, sigma_w2: float, sigma_b2: float, q_star: float) -> float:
    """c*, where the correlation of two inputs' pre-activations settles: the fixed point of the correlation map
    c <- (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q* reached from c = 0. The map is increasing and convex on
    [0, 1] (a series in c with coefficients >= 0) and has the fixed point 1 of slope chi_1: in the ordered phase
    (chi_1 <= 1) c* = 1, in the chaotic one c* < 1 is its only other fixed point, found here by bisection on the sign
    of map(c) - c (positive below c*, negative above), the limit the iteration from 0 climbs to."""
    phi, _ = ACTIVATIONS[activation]
    low, high = 0.0, 1.0
    while high - low > 1e-13:
        mid = 0.5 * (low + high)
        if (sigma_w2 * pair_mean(phi, phi, q_star, mid) + sigma_b2) / q_star - mid > 0:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def correlation_depth_scale(activation: str, sigma_w2: float, sigma_b2: float = 0.0) -> float:
    """xi_c, the correlation depth scale (Schoenholz et al. 2017): two inputs' correlation approaches its fixed point
    c* by e every xi_c layers, xi_c = -1 / ln chi_c with chi_c = sigma_w^2 E[phi'(u1) phi'(u2)] at c*, the map's
    slope there. They found random networks trainable up to about 6 xi_c layers. In the ordered phase c* = 1 and
    xi_c equals the gradient's depth scale 1/|ln chi_1| (``Prediction.depth_scale``); in the chaotic phase it is
    finite and another number. Infinite at the edge of chaos, and where q* is 0 or infinite (tanh or the centred
    sigmoid without biases in the ordered phase, ReLU): there the correlation map has no exponential depth scale,
    and 6 xi_c bounds no depth."""
    q_star = fixed_point(activation, sigma_w2, sigma_b2)
    if q_star == 0 or math.isinf(q_star):
        return math.inf
    _, slope = ACTIVATIONS[activation]
    c_star = correlation_fixed_point(activation, sigma_w2, sigma_b2, q_star)
    chi_c = sigma_w2 * pair_mean(slope, slope, q_star, c_star)
    return math.inf if abs(chi_c - 1.0) < 1e-9 else 1.0 / abs(math.log(chi_c))


def factor_text(factor: float) -> str:
    """'1/7.07' for a factor below 1 (the gradient shrinks towards the input), 'x3.27' above."""
    if factor <= 0:
        return "0"
    return f"1/{1 / factor:.3g}" if factor < 1 else f"×{factor:.3g}"


def main() -> None:
    inits = {
        "default (PyTorch)": ModelSpec(depth=2),
        "normal 0.05": ModelSpec(depth=2, init="normal", init_std=0.05),
        "normal 1": ModelSpec(depth=2, init="normal", init_std=1.0),
        "normal 10": ModelSpec(depth=2, init="normal", init_std=10.0),
        "xavier_normal": ModelSpec(depth=2, init="xavier_normal"),
        "kaiming_normal": ModelSpec(depth=2, init="kaiming_normal"),
    }
    print(f"{'activation':10} {'init':18} {'sigma_w^2':>10} {'q*':>10} {'chi_1':>8} {'∇W/layer':>10} {'xi':>7}")
    for activation in ("sigmoid", "tanh", "relu"):
        for name, spec in inits.items():
            p = predict(activation, *variances(spec))
            print(
                f"{activation:10} {name:18} {p.sigma_w2:10.4g} {p.q_star:10.4g} {p.chi_1:8.4g} "
                f"{factor_text(p.factor):>10} {p.depth_scale:7.3g}"
            )
    print(f"sigmoid at the edge of chaos, width 128, biases 0: N(0, {edge_of_chaos_std('sigmoid', 128):.4g})")


if __name__ == "__main__":
    main()
