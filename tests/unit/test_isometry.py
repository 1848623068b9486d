"""Dynamical isometry at initialisation (isometry.py): the Jacobian's singular values against closed forms, and the
spreads that separate a centred orthogonal sigmoid from the Gaussian edge of chaos (issue 25, item 2, in part)."""

import numpy as np
import pytest

from vanishing_gradients import isometry


def test_an_orthogonal_matrix_is_orthogonal():
    q = isometry.orthogonal(64, np.random.default_rng(0))
    assert np.allclose(q.T @ q, np.eye(64), atol=1e-12)


def test_a_deep_linear_orthogonal_network_keeps_every_singular_value_at_one():
    """The closed form: a product of orthogonal matrices is orthogonal, at any depth."""
    values = np.linalg.svd(isometry.jacobian("linear", 1.0, 50, width=32, kind="orthogonal"), compute_uv=False)
    assert np.allclose(values, 1.0, atol=1e-10)
    assert isometry.spread(values).std == pytest.approx(0.0, abs=1e-10)


def test_a_gaussian_linear_network_keeps_the_mean_squared_singular_value_and_spreads_the_rest():
    """E[tr(J^T J)] / width = sigma_w^2 ** depth: 1 at sigma_w^2 = 1, while the spread grows with depth."""
    js = [isometry.jacobian("linear", 1.0, 8, width=128, seed=s) for s in range(4)]
    mean_square = np.mean([np.trace(j.T @ j) / 128 for j in js])
    assert mean_square == pytest.approx(1.0, rel=0.25)
    shallow = isometry.spectrum("linear", 1.0, 2, width=128).std
    assert isometry.spectrum("linear", 1.0, 8, width=128).std > shallow > 0


def test_the_critical_scale_of_an_activation_through_zero():
    assert isometry.critical_sigma_w2("tanh") == pytest.approx(1.0)
    assert isometry.critical_sigma_w2("sigmoid", centred=True) == pytest.approx(16.0)  # slope 1/4 at 0
    assert isometry.critical_sigma_w2("relu") == pytest.approx(2.0)  # the slope 1 on half the units
    with pytest.raises(ValueError, match="edge_of_chaos_std"):
        isometry.critical_sigma_w2("sigmoid")


def test_a_centred_orthogonal_sigmoid_is_near_isometry_where_the_gaussian_edge_of_chaos_is_not():
    """At 30 layers the Gaussian edge of chaos spreads its singular values over several decades, the centred
    orthogonal sigmoid at criticality over a fraction of one."""
    chaos = isometry.spectrum(depth=30, **isometry.CONFIGURATIONS["sigmoid, Gaussian edge of chaos"])
    centred = isometry.spectrum(depth=30, **isometry.CONFIGURATIONS["centred sigmoid, orthogonal, critical"])
    assert chaos.std > 3.0 and centred.std < 0.5
    assert centred.mean > -1.0 > -10.0 > chaos.mean  # near 1 (log10 0), where the edge of chaos sits decades below
