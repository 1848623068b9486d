"""The mean-field theory module against values derived by hand, the issue's anchors and a Monte Carlo network."""

import math

import numpy as np
import pytest
import yaml
from conftest import ROOT

from vanishing_gradients import theory
from vanishing_gradients.specs import ModelSpec


def test_linear_activation_has_the_closed_form_fixed_point():
    # q = sigma_w^2 q + sigma_b^2  =>  q* = sigma_b^2 / (1 - sigma_w^2); phi' = 1  =>  chi_1 = sigma_w^2
    p = theory.predict("linear", 0.5, 0.1)
    assert p.q_star == pytest.approx(0.2, rel=1e-9)
    assert p.chi_1 == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("sigma_w2", [0.3, 0.5, 0.9])
def test_tanh_without_bias_in_the_ordered_phase_decays_to_q_zero_where_chi_1_is_sigma_w2(sigma_w2):
    p = theory.predict("tanh", sigma_w2, 0.0)
    assert p.q_star == 0.0
    assert p.chi_1 == pytest.approx(sigma_w2, rel=1e-9)
    assert p.phase == "ordered" and p.depth_scale == pytest.approx(1 / math.log(1 / sigma_w2))


@pytest.mark.parametrize("sigma_w2", [0.5, 2.0, 10.0])
def test_relu_chi_1_is_half_sigma_w2_at_any_scale(sigma_w2):
    # q* is 0 below sigma_w^2 = 2 and infinite above it; ReLU's slope is 1 on half the line at every scale
    p = theory.predict("relu", sigma_w2, 0.0)
    assert p.chi_1 == pytest.approx(sigma_w2 / 2, rel=1e-9)
    assert p.phase == {0.5: "ordered", 2.0: "edge of chaos", 10.0: "chaotic"}[sigma_w2]
    assert (
        theory.predict("relu", sigma_w2, 0.0).phase == ("edge of chaos" if sigma_w2 == 2.0 else None) or sigma_w2 != 2
    )


@pytest.mark.parametrize(("activation", "sigma_w2"), [("tanh", 0.32), ("relu", 0.32), ("relu", 128.0)])
def test_where_the_signal_itself_vanishes_or_grows_a_weight_gradient_keeps_its_size(activation, sigma_w2):
    # q* = 0 (or infinite): the input of each layer shrinks (grows) by 1/sqrt(chi_1) per layer as the backward signal
    # shrinks (grows) by sqrt(chi_1); a weight gradient, their product, keeps its norm: factor 1 exactly
    p = theory.predict(activation, sigma_w2, 0.0)
    assert p.q_star in (0.0, math.inf)
    assert p.signal_ratio == pytest.approx(p.chi_1, rel=1e-6) and p.factor == pytest.approx(1.0, rel=1e-6)
    assert p.backward_factor == pytest.approx(math.sqrt(p.chi_1))


@pytest.mark.parametrize(
    ("init", "std", "anchor"),
    # Per-layer factors of the sigmoid, width 128 (issue 21 and ../shared/design.md: 1/7.07, 1/4.24, 1/3.15, x3.27)
    [
        ("default", None, 1 / 7.07),
        ("xavier_normal", None, 1 / 4.24),
        ("kaiming_normal", None, 1 / 3.15),
        ("normal", 10.0, 3.27),
    ],
)
def test_sigmoid_factors_match_the_published_anchors(init, std, anchor):
    spec = ModelSpec(depth=7, init=init, init_std=std)
    assert theory.for_spec(spec).factor == pytest.approx(anchor, rel=0.003)


def test_pytorch_default_init_variances():
    # U(-1/sqrt(n), 1/sqrt(n)) has variance 1/(3n): weights sigma_w^2 = n * 1/(3n), biases 1/(3n)
    assert theory.variances(ModelSpec(depth=3, width=128)) == pytest.approx((1 / 3, 1 / 384))
    assert theory.variances(ModelSpec(depth=3, width=128, init="normal", init_std=0.5)) == (32.0, 0.0)


def test_the_edge_of_chaos_std_gives_chi_1_one_and_the_depth_preset_uses_it():
    std = theory.edge_of_chaos_std("sigmoid", 128)
    p = theory.for_spec(ModelSpec(depth=7, init="normal", init_std=std))
    assert p.chi_1 == pytest.approx(1.0, abs=1e-9) and p.phase == "edge of chaos" and p.depth_scale == math.inf
    preset = yaml.safe_load((ROOT / "studies" / "depth.yaml").read_text())
    assert preset["fixes"]["weight_increasing"]["variants"]["edge_of_chaos"]["init_std"] == round(std, 3)


def test_what_the_theory_does_not_cover_is_named():
    assert theory.not_covered(ModelSpec(depth=7)) is None
    assert "normalisation" in theory.not_covered(ModelSpec(depth=7, norm="batchnorm"))
    assert "skip" in theory.not_covered(ModelSpec(depth=7, skips=((1, 3),)))
    assert "block" in theory.not_covered(ModelSpec(depth=7), schedule=(2, 2, 2, 1))


def monte_carlo(activation, sigma_w2, sigma_b2, uniform=False, width=1000, depth=16, batch=100, seed=0):
    """q at the last layer and the mean per-layer factor of the squared backward signal, in a random network."""
    phi, slope = theory.ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    q_star = theory.fixed_point(activation, sigma_w2, sigma_b2)
    h = rng.normal(0, math.sqrt(q_star), (batch, width))  # start at the fixed point: no burn-in
    bound = math.sqrt(3 * sigma_w2 / width)
    weights, pre = [], [h]
    for _ in range(depth):
        w = (
            rng.uniform(-bound, bound, (width, width))
            if uniform
            else rng.normal(0, math.sqrt(sigma_w2 / width), (width, width))
        )
        b = (
            rng.uniform(-1, 1, width) * math.sqrt(3 * sigma_b2)
            if uniform
            else rng.normal(0, math.sqrt(sigma_b2), width)
        )
        h = phi(h) @ w.T + b
        weights.append(w)
        pre.append(h)
    delta = rng.normal(size=(batch, width)) * slope(pre[-1])
    squares = [np.mean(delta**2)]
    for w, h in zip(reversed(weights), reversed(pre[:-1]), strict=True):
        delta = (delta @ w) * slope(h)
        squares.append(np.mean(delta**2))
    ratios = np.array(squares[1:]) / np.array(squares[:-1])
    return float(np.mean(pre[-1] ** 2)), float(np.exp(np.mean(np.log(ratios))))


@pytest.mark.parametrize(
    ("activation", "sigma_w2", "sigma_b2", "uniform"),
    [
        ("sigmoid", 1 / 3, 1 / 3000, True),
        ("sigmoid", 2.0, 0.0, False),
        ("sigmoid", 103.0, 0.0, False),
        ("tanh", 1.5, 0.05, False),
    ],
)
def test_a_random_wide_network_follows_the_prediction(activation, sigma_w2, sigma_b2, uniform):
    q, chi = monte_carlo(activation, sigma_w2, sigma_b2, uniform)
    p = theory.predict(activation, sigma_w2, sigma_b2)
    assert q == pytest.approx(p.q_star, rel=0.05)
    assert chi == pytest.approx(p.chi_1, rel=0.05)


@pytest.mark.parametrize("activation, slope_integral", [("sigmoid", 1 / 6), ("tanh", 4 / 3)])
@pytest.mark.parametrize("std", [1e3, 1e8, 1e20])
def test_huge_weights_give_the_wide_gaussian_limit_not_a_math_error(activation, slope_integral, std):
    """Issue 28, item 10: at N(0, 10^8) weights chi_1 underflowed to 0 (the grid in z missed the slope's bump at
    x = 0) and the report died on log(0). For sqrt(q*) >> 1, E[phi'(x)^2] -> integral of phi'^2 / sqrt(2 pi q*)."""
    p = theory.for_spec(ModelSpec(depth=2, width=128, init="normal", init_std=std, activation=activation))
    limit = p.sigma_w2 * slope_integral / math.sqrt(2 * math.pi * p.q_star)
    assert p.chi_1 == pytest.approx(limit, rel=1e-6) and p.phase == "chaotic"
    assert 0 < p.depth_scale < 1 and theory.factor_text(p.factor).startswith("×")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_the_two_integrations_agree_where_one_takes_over(activation):
    steep = theory._STEEP**2
    slope = theory.ACTIVATIONS[activation][1]
    below = theory.gaussian_mean(lambda x: slope(x) ** 2, steep * 0.999, bump=True)  # on the z grid
    above = theory.gaussian_mean(lambda x: slope(x) ** 2, steep * 1.001, bump=True)  # in x
    assert above == pytest.approx(below * math.sqrt(0.999 / 1.001), rel=1e-6)


def test_a_gradient_that_vanishes_or_explodes_in_one_layer_has_depth_scale_zero():
    for chi in (0.0, math.inf):
        p = theory.Prediction("sigmoid", 1.0, 0.0, 1.0, chi)
        assert p.depth_scale == 0.0
    assert theory.factor_text(0.0) == "0" and theory.Prediction("tanh", 1.0, 0.0, 0.0, 1.0, 0.0).factor == math.inf


def test_the_theory_covers_an_allow_list_of_settings_and_no_new_mechanism():
    """A setting the theory does not model (a new fix's field, here on a subclass of ModelSpec) puts a configuration
    outside it, named, instead of giving it a wrong prediction; at its default it changes nothing."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class WithDropout(ModelSpec):
        dropout: float = 0.0

    assert theory.not_covered(WithDropout(depth=7, dropout=0.5)) == "the theory does not model the setting `dropout`"
    assert theory.not_covered(WithDropout(depth=7)) is None
    assert theory.not_covered(ModelSpec(depth=7, grad_norm=True)) == theory.OUTSIDE["grad_norm"]
    assert theory.not_covered(ModelSpec(depth=30, width=64, init="normal", init_std=0.9)) is None


def test_the_critical_gains_are_the_closed_forms():
    """sigma_w at chi_1 = 1 without biases: 1/|phi'(0)| where phi(0) = 0 (tanh 1, the centred sigmoid 4: the course's
    '4 x Xavier' is critical for a centred sigmoid only), ReLU sqrt(2); the plain sigmoid's is the depth preset's."""
    assert theory.critical_gain("tanh") == pytest.approx(1.0, rel=1e-6)
    assert theory.critical_gain("centred sigmoid") == pytest.approx(4.0, rel=1e-6)
    assert theory.critical_gain("relu") == pytest.approx(math.sqrt(2), rel=1e-6)
    assert theory.critical_gain("sigmoid") == pytest.approx(theory.edge_of_chaos_std("sigmoid", 128) * math.sqrt(128))
    centred = theory.for_spec(ModelSpec(depth=7, init="orthogonal", init_gain=4.0, center=True))
    assert centred.activation == "centred sigmoid" and centred.sigma_w2 == pytest.approx(16.0)
    assert centred.q_star == 0.0 and centred.chi_1 == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("gain", [3.0, 6.0])
def test_the_projects_centred_orthogonal_network_follows_the_prediction(gain):
    """Monte Carlo on the project's own MLP (orthogonal init, centred sigmoid, width 512): the pre-activations'
    mean square in the deepest layers against q*, the back-propagated signal's squared norm per layer against chi_1.
    Gain 3 is ordered (q* = 0, chi_1 = 9/16), gain 6 chaotic (q* > 0)."""
    import torch

    from vanishing_gradients.models import MLP

    torch.manual_seed(0)
    spec = ModelSpec(depth=16, width=512, init="orthogonal", init_gain=gain, center=True)
    model, predicted = MLP(spec).double(), theory.for_spec(spec)
    pre = []

    def keep(_module, _inputs, out):
        out.retain_grad()
        pre.append(out)

    for layer in model.hidden:
        layer.linear.register_forward_hook(keep)
    out = model(torch.rand(512, 784, dtype=torch.float64))
    (out * torch.randn_like(out)).sum().backward()
    grads = [float((h.grad**2).sum(1).mean()) for h in pre]
    chi = math.exp(np.mean(np.log(np.array(grads[4:-1]) / np.array(grads[5:]))))  # towards the input, past the first
    assert chi == pytest.approx(predicted.chi_1, rel=0.1)
    if predicted.q_star > 0:
        assert float((pre[-1] ** 2).mean()) == pytest.approx(predicted.q_star, rel=0.1)
    else:
        assert float((pre[-1] ** 2).mean()) < 0.01 * float((pre[1] ** 2).mean())  # the signal decays to q* = 0


@pytest.mark.parametrize(("activation", "sigma_w2", "sigma_b2"), [("sigmoid", 16.0, 0.0), ("sigmoid", 64.0, 0.0),
                                                                  ("tanh", 1.5, 0.3)])  # fmt: skip
def test_in_the_ordered_phase_the_correlation_depth_scale_is_the_gradients(activation, sigma_w2, sigma_b2):
    """c* = 1 there, so chi_c = chi_1: the bisection climbs to 1 and the 2-D integral at c* gives the 1-D chi_1."""
    p = theory.predict(activation, sigma_w2, sigma_b2)
    assert p.phase == "ordered"
    q = p.q_star
    assert theory.correlation_fixed_point(activation, sigma_w2, sigma_b2, q) == pytest.approx(1.0, abs=1e-9)
    assert theory.correlation_depth_scale(activation, sigma_w2, sigma_b2) == pytest.approx(p.depth_scale, rel=1e-6)


@pytest.mark.parametrize(("activation", "sigma_w2"), [("sigmoid", 256.0), ("centred sigmoid", 64.0)])
def test_in_the_chaotic_phase_the_correlation_depth_scale_is_finite_and_not_the_gradients(activation, sigma_w2):
    p = theory.predict(activation, sigma_w2)
    xi_c = theory.correlation_depth_scale(activation, sigma_w2)
    assert p.phase == "chaotic" and math.isfinite(xi_c) and xi_c > 0
    assert abs(xi_c - p.depth_scale) > 0.1 * p.depth_scale
    c_star = theory.correlation_fixed_point(activation, sigma_w2, 0.0, p.q_star)
    if activation == "centred sigmoid":  # an odd activation without biases: uncorrelated inputs stay uncorrelated
        assert c_star == pytest.approx(0.0, abs=1e-9)
        slope = theory.gaussian_mean(lambda x: theory.ACTIVATIONS[activation][1](x), p.q_star)
        assert xi_c == pytest.approx(-1 / math.log(sigma_w2 * slope**2), rel=1e-6)  # chi_c = sigma_w^2 E[phi']^2
    else:  # the sigmoid's mean of 1/2 correlates any two inputs
        assert 0.1 < c_star < 0.99


@pytest.mark.parametrize(("activation", "sigma_w2"), [("centred sigmoid", 4.0), ("tanh", 0.5), ("relu", 4.0)])
def test_where_q_star_is_zero_or_infinite_there_is_no_correlation_depth_scale(activation, sigma_w2):
    assert theory.predict(activation, sigma_w2).q_star in (0.0, math.inf)
    assert theory.correlation_depth_scale(activation, sigma_w2) == math.inf


def test_the_correlation_depth_scale_matches_a_monte_carlo_of_the_correlation_map():
    """Tanh, chaotic, with biases (sigma_w^2 16, sigma_b^2 2: c* = 0.41): q*, c* and chi_c as sample means over the
    same 1,000,000 pairs of normals, iterated as the maps say; the grid's xi_c within 2% (the sampling spread of
    this estimate, over seeds: about 1%)."""
    sigma_w2, sigma_b2 = 16.0, 2.0
    z1, z2 = np.random.default_rng(0).standard_normal((2, 1_000_000))
    q = 1.0
    for _ in range(60):
        q = sigma_w2 * np.mean(np.tanh(np.sqrt(q) * z1) ** 2) + sigma_b2
    c = 0.0
    for _ in range(80):  # from c = 0; it converges by chi_c (about 0.71) per step
        u1, u2 = np.sqrt(q) * z1, np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)
        c = (sigma_w2 * np.mean(np.tanh(u1) * np.tanh(u2)) + sigma_b2) / q
    chi_c = sigma_w2 * np.mean((1 - np.tanh(u1) ** 2) * (1 - np.tanh(u2) ** 2))
    assert 0.3 < c < 0.5
    assert theory.correlation_depth_scale("tanh", sigma_w2, sigma_b2) == pytest.approx(-1 / math.log(chi_c), rel=0.02)
