"""Gradient flow at initialisation on batches as the config gives them: a last batch of one sample is left out,
as in training, so that a network that normalises over the batch measures it (issue 28, item 11)."""

import itertools
import json
import math

import pytest
from conftest import tiny_data

from vanishing_gradients import initflow
from vanishing_gradients.specs import ModelSpec, TrainSpec, to_param


@pytest.mark.parametrize("norm", ["batchnorm", "standardize", "none"])
def test_a_last_batch_of_one_sample_is_left_out(norm):
    """A training subset of 513, batch 512, two batches: BatchNorm stopped with 'Expected more than 1 value per
    channel' on the batch of one."""
    split = tiny_data(n_train=513)["train"]
    spec = TrainSpec(model=ModelSpec(depth=2, width=8, norm=norm), batch_size=512)
    assert [len(y) for _, y in initflow.batches(split, 0, 2, 512)] == [512]
    param = json.dumps({"seeds": [0], "batches": 2, "specs": [["fix", norm, to_param(spec)]]})
    flow, _ = initflow.measure(param, split, log=lambda m: None)
    assert len(flow) == 3 and all(math.isfinite(n) and n > 0 for n in flow["grad_norm"])


def test_batches_of_the_same_size_are_all_kept():
    split = tiny_data(n_train=100)["train"]
    assert [len(y) for _, y in initflow.batches(split, 0, 4, 30)] == [30, 30, 30, 10]
    assert [len(y) for _, y in initflow.batches(split, 0, 1, 1)] == [1]  # one batch of one: the only one


def test_each_hidden_layer_records_its_forward_and_backward_signal():
    """The signals beside the weight gradient (signals.SIGNALS): the slope is the sigmoid's own slope at the
    pre-activations a separate hook sees, the quantiles bracket the mean, the backward signal of a default-init
    sigmoid network shrinks towards the input, and the output layer, which has no activation, has none."""
    import torch

    split = tiny_data(n_train=256)["train"]
    spec = TrainSpec(model=ModelSpec(depth=5, width=16), batch_size=128)
    data = initflow.batches(split, 0, 2, 128)
    seen = []
    torch.manual_seed(0)
    model = initflow.MLP(spec.model)
    hook = model.hidden[0].act.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    for x, _ in data:
        model(x)
    hook.remove()
    stats = initflow.layer_stats(spec, 0, data)  # the same seed: the same initial weights
    expected = sum(float((torch.sigmoid(x) * (1 - torch.sigmoid(x))).mean()) for x in seen) / len(seen)
    first = stats["hidden1"]
    assert first["slope"] == pytest.approx(expected, rel=1e-5) and 0 < first["slope"] <= 0.25
    assert first["pre_q05"] < first["pre_mean"] < first["pre_q95"] and first["pre_std"] > 0
    backward = [stats[f"hidden{i}"]["backward_rms"] for i in range(1, 6)]
    assert all(a < b for a, b in itertools.pairwise(backward))  # vanishing towards the input
    assert all(math.isnan(stats["output"][key]) for key in initflow.SIGNALS)
    assert all(0 < stats[f"hidden{i}"]["forward_rms"] < 1 for i in range(1, 6))  # sigmoid outputs lie in (0, 1)
