"""Gradient flow at initialisation on batches as the config gives them: a last batch of one sample is left out,
as in training, so that a network that normalises over the batch measures it (issue 28, item 11)."""

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
    flow = initflow.measure(param, split, log=lambda m: None)
    assert len(flow) == 3 and all(math.isfinite(n) and n > 0 for n in flow["grad_norm"])


def test_batches_of_the_same_size_are_all_kept():
    split = tiny_data(n_train=100)["train"]
    assert [len(y) for _, y in initflow.batches(split, 0, 4, 30)] == [30, 30, 30, 10]
    assert [len(y) for _, y in initflow.batches(split, 0, 1, 1)] == [1]  # one batch of one: the only one
