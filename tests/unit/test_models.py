"""The model builder and each fix's mechanics, on small models."""

import pytest
import torch
from torch import nn

from vanishing_gradients.models import MLP, GradientNormalization, Standardize
from vanishing_gradients.specs import ModelSpec


def linear_shapes(model):
    return [(lin.in_features, lin.out_features) for _, lin in model.linears()]


@pytest.mark.parametrize("depth", [1, 3, 7])
def test_baseline_layers_widths_and_activation(depth):
    model = MLP(ModelSpec(depth=depth))
    assert linear_shapes(model) == [(784, 128)] + [(128, 128)] * (depth - 1) + [(128, 10)]
    assert all(isinstance(layer.act, nn.Sigmoid) for layer in model.hidden)
    assert all(isinstance(layer.norm, nn.Identity) for layer in model.hidden)
    assert model(torch.rand(5, 784)).shape == (5, 10)


@pytest.mark.parametrize("activation, cls", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid)])
def test_activation_types(activation, cls):
    model = MLP(ModelSpec(depth=3, activation=activation))
    assert [type(layer.act) for layer in model.hidden] == [cls] * 3


@pytest.mark.parametrize("std", [0.05, 1.0, 10.0])
def test_normal_init_has_the_asked_std_and_zero_bias(std):
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=7, init="normal", init_std=std))
    weights = torch.cat([lin.weight.flatten() for _, lin in model.linears()])
    assert weights.std().item() == pytest.approx(std, rel=0.01)
    assert weights.mean().item() == pytest.approx(0.0, abs=0.01 * std)
    assert all(torch.count_nonzero(lin.bias) == 0 for _, lin in model.linears())


def test_default_init_is_pytorchs():
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=2))
    bound = 1 / 784**0.5  # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = model.hidden[0].linear.weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


@pytest.mark.parametrize("norm, cls", [("batchnorm", nn.BatchNorm1d), ("standardize", Standardize)])
def test_normalisation_sits_between_linear_and_activation(norm, cls):
    model = MLP(ModelSpec(depth=3, norm=norm))
    order = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: order.append(type(m)))
        for m in model.modules()
        if isinstance(m, (nn.Linear, cls, nn.Sigmoid))
    ]
    model(torch.rand(8, 784))
    for h in hooks:
        h.remove()
    assert order == [nn.Linear, cls, nn.Sigmoid] * 3 + [nn.Linear]


def test_standardize_output_has_zero_mean_unit_std_per_unit():
    x = torch.randn(64, 16) * 5 + 3
    y = Standardize()(x)
    assert torch.allclose(y.mean(0), torch.zeros(16), atol=1e-5)
    assert torch.allclose(y.std(0, unbiased=False), torch.ones(16), atol=1e-3)
    assert not list(Standardize().parameters())


def test_skip_connections_match_a_hand_computed_forward_pass():
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=7, skips=((1, 3), (4, 7)), init="normal", init_std=0.05))
    x = torch.rand(4, 784)
    f = [lambda h, layer=layer: torch.sigmoid(layer.linear(h)) for layer in model.hidden]
    h1 = f[0](x)
    h2 = f[1](h1)
    h3 = f[2](h2) + h1
    h4 = f[3](h3)
    h5 = f[4](h4)
    h6 = f[5](h5)
    h7 = f[6](h6) + h4
    assert torch.allclose(model(x), model.head(h7), atol=1e-6)
    plain = MLP(ModelSpec(depth=7, init="normal", init_std=0.05))
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain(x), model(x))


def test_skip_out_of_range_is_refused():
    with pytest.raises(ValueError, match="skip \\(4, 7\\)"):
        ModelSpec(depth=5, skips=((4, 7),))


def test_gradient_normalisation_standardises_the_backward_gradient():
    x = torch.randn(32, 10, requires_grad=True)
    upstream = torch.randn(32, 10) * 7 + 2
    GradientNormalization()(x).backward(upstream)
    g = x.grad
    assert torch.allclose(g, (upstream - upstream.mean()) / (upstream.std(unbiased=False) + 1e-6))
    assert g.mean().abs() < 1e-5 and (g.std(unbiased=False) - 1).abs() < 1e-4
    y = torch.randn(3, 4)
    assert torch.equal(GradientNormalization()(y), y)  # identity forward


def test_gradient_normalisation_sits_after_every_activation():
    model = MLP(ModelSpec(depth=4, grad_norm=True))
    assert all(isinstance(layer.grad_normalization, GradientNormalization) for layer in model.hidden)
    x = torch.rand(16, 784)
    seen = []
    for layer in model.hidden:
        layer.act.register_full_backward_hook(lambda m, gin, gout: seen.append(gout[0].clone()))
    model(x).sum().backward()
    for g in seen:  # the gradient arriving at each activation's output is standardised
        assert g.mean().abs() < 1e-5 and (g.std(unbiased=False) - 1).abs() < 1e-3


@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_orthogonal_init_has_orthonormal_rows_times_its_gain_and_zero_bias(gain):
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=3, width=32, init="orthogonal", init_gain=gain))
    for _, linear in model.linears():  # 32x784, 32x32, 32x32, 10x32: fewer rows than columns
        w = linear.weight.detach().double()
        assert torch.allclose(w @ w.T, gain**2 * torch.eye(w.shape[0], dtype=torch.float64), atol=1e-5)
        assert torch.count_nonzero(linear.bias) == 0


def test_a_centred_sigmoid_network_computes_tanh_halves_without_hidden_biases():
    """center: true gives each layer fed by a sigmoid the bias -W.1/2, so that layer sees sigmoid(h) - 1/2 =
    tanh(h/2)/2; the first layer, fed by the pixels, keeps its init's bias (0). A fresh head is centred too."""
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=3, width=16, init="orthogonal", init_gain=4.0, center=True)).double()
    (_, first), *fed = model.linears()
    assert torch.count_nonzero(first.bias) == 0
    for _, linear in fed:
        assert torch.allclose(linear.bias, -0.5 * linear.weight.sum(1))
    x = torch.rand(5, 784, dtype=torch.float64)
    h = x @ first.weight.T
    for _, linear in fed:
        h = (torch.tanh(h / 2) / 2) @ linear.weight.T  # no bias: the centring took it
    assert torch.allclose(model(x), h, atol=1e-6)  # the biases were made in float32
    model.new_head()
    assert torch.allclose(model.head.bias, -0.5 * model.head.weight.sum(1))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"activation": "relu", "center": True}, "needs activation sigmoid"),
        ({"skips": ((1, 3),), "center": True}, "no skips"),
        ({"init": "orthogonal", "init_gain": 0.0}, "init_gain must be > 0"),
    ],
)
def test_a_centring_or_gain_that_cannot_apply_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(depth=3, **settings)
