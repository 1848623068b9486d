"""The Jacobian spectrum at initialisation (spectra): closed forms, the theory beside it, where it is not measured."""

import json
import math

import pytest
import torch
from conftest import tiny_data
from torch import nn

from vanishing_gradients import initflow, spectra, theory
from vanishing_gradients.models import MLP
from vanishing_gradients.specs import ModelSpec, TrainSpec, to_param


def linear(model: MLP) -> MLP:
    """The same network with the identity for its activation: J is the product of its weight matrices."""
    for layer in model.hidden:
        layer.act = nn.Identity()
    return model


def test_a_deep_linear_orthogonal_network_has_every_singular_value_one():
    torch.manual_seed(0)
    model = linear(MLP(ModelSpec(depth=50, width=32, init="orthogonal")))
    found = spectra.spectrum(model, torch.rand(3, 784))
    # the weights are float32, orthogonal to ~1e-7 each: 49 of them, ~5e-7 decades
    for key in ("sv_log_std", "sv_log_min", "sv_log_max", "sv_sq_log_mean"):
        assert found[key] == pytest.approx(0, abs=1e-5), key
    assert found["factors"] == 49 and found["floor"] == 0


def test_the_jacobian_is_the_product_of_the_layers_slopes_and_weights():
    """By hand for a 3-layer sigmoid network: J = D3 W3 D2 W2, D the sigmoid's slopes at each pre-activation."""
    torch.manual_seed(1)
    model = MLP(ModelSpec(depth=3, width=6)).double()
    x = torch.rand(2, 784, dtype=torch.float64)
    found = spectra.hidden_jacobians(model, x)
    for row, jac in zip(x, found, strict=True):
        h = model.hidden[0](row)
        expected = torch.eye(6, dtype=torch.float64)
        for layer in model.hidden[1:]:
            u = layer.linear(h)
            slope = torch.sigmoid(u) * (1 - torch.sigmoid(u))
            expected = (slope[:, None] * layer.linear.weight) @ expected
            h = torch.sigmoid(u)
        assert torch.allclose(jac, expected.detach(), atol=1e-14)


def test_a_skip_from_the_first_layer_adds_the_identity():
    """Skip (1, 2) in a 2-layer network: h2 = sigmoid(W2 h1 + b2) + h1, so J = D2 W2 + I."""
    torch.manual_seed(2)
    model = MLP(ModelSpec(depth=2, width=5, skips=((1, 2),))).double()
    x = torch.rand(1, 784, dtype=torch.float64)
    h1 = model.hidden[0](x[0])
    u = model.hidden[1].linear(h1)
    expected = (torch.sigmoid(u) * (1 - torch.sigmoid(u)))[:, None] * model.hidden[1].linear.weight + torch.eye(5)
    assert torch.allclose(spectra.hidden_jacobians(model, x)[0], expected.detach(), atol=1e-14)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the course's sigmoid: the mean square falls by chi_1 = 0.04 per layer
        {"activation": "tanh", "init": "orthogonal"},
        {"init": "orthogonal", "init_gain": 4.0, "center": True},  # the centred sigmoid at criticality
    ],
)
def test_the_mean_square_follows_the_mean_field_prediction_from_the_measured_input(settings):
    """Width 256, 30 layers: the measured log10 mean squared singular value within 0.1 decade of the theory's product
    of per-layer factors along the variance map from the measured q_in (it spans 0.5 to 42 decades here)."""
    torch.manual_seed(3)
    spec = ModelSpec(depth=30, width=256, **settings)
    found = spectra.spectrum(MLP(spec), torch.rand(8, 784))
    predicted = theory.jacobian_log_sq_mean(
        theory.activation_of(spec), *theory.variances(spec), found["q_in"], found["factors"]
    )
    assert found["sv_sq_log_mean"] == pytest.approx(predicted, abs=0.1)


def test_the_centred_orthogonal_sigmoid_keeps_its_spectrum_narrow_where_the_gaussian_edge_of_chaos_does_not():
    """The issue's numbers, on the project's own networks (width 128, 100 layers): a spread of decades against a
    fraction of one."""
    torch.manual_seed(4)
    x = torch.rand(8, 784)
    centred = spectra.spectrum(MLP(ModelSpec(depth=100, init="orthogonal", init_gain=4.0, center=True)), x)
    gaussian = spectra.spectrum(MLP(ModelSpec(depth=100, init="normal", init_std=0.897)), x)
    assert centred["sv_log_std"] < 0.5 < 2 < gaussian["sv_log_std"]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"model": ModelSpec(depth=3, norm="batchnorm")}, "normalisation"),
        ({"model": ModelSpec(depth=3, grad_norm=True)}, "gradient normalisation"),
        ({"model": ModelSpec(depth=3), "schedule": (2, 1)}, "train-some-layers"),
        ({"model": ModelSpec(depth=1)}, "one hidden layer"),
    ],
)
def test_no_spectrum_where_a_samples_jacobian_is_not_its_own(settings, reason):
    assert reason in spectra.why_not(TrainSpec(**settings))


def test_the_init_flow_measures_a_spectrum_per_configuration_depth_and_seed():
    split = tiny_data(n_train=64)["train"]
    plain = TrainSpec(model=ModelSpec(depth=4, width=8), batch_size=32)
    normed = TrainSpec(model=ModelSpec(depth=4, width=8, norm="batchnorm"), batch_size=32)
    param = json.dumps(
        {
            "seeds": [0, 1],
            "batches": 1,
            "specs": [["baseline", "sigmoid", to_param(plain)], ["n", "bn", to_param(normed)]],
        }
    )
    flow, found = initflow.measure(param, split, log=lambda m: None)
    assert set(flow["variant"]) == {"sigmoid", "bn"}
    assert list(found["seed"]) == [0, 1] and set(found["variant"]) == {"sigmoid"}  # batchnorm: none
    assert (found["samples"] == 8).all() and (found["factors"] == 3).all()
    assert all(math.isfinite(v) for v in found["sv_log_std"])
    torch.manual_seed(1)
    again = spectra.spectrum(MLP(plain.model), initflow.batches(split, 1, 1, 32)[0][0][:8])
    assert found.iloc[1]["sv_log_mean"] == again["sv_log_mean"]  # the same network and inputs as layer_stats'
