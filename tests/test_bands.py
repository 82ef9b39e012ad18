"""The price band's arithmetic, checked against scipy's normal law and a Monte Carlo of steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from fincast.bands import cumulative_quantiles, price_quantiles

LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]
MEANS = np.array([0.001, -0.002, 0.0005, 0.0, 0.003])
SPREADS = np.array([0.01, 0.02, 0.015, 0.03, 0.012])


def normal_steps(means: np.ndarray = MEANS, spreads: np.ndarray = SPREADS) -> np.ndarray:
    """Per-step quantiles ``(horizon, levels)`` of independent normal daily log returns."""
    return norm.ppf(np.array(LEVELS)[None, :], loc=means[:, None], scale=spreads[:, None])


def test_normal_steps_give_the_exact_quantiles_of_their_sum() -> None:
    result = cumulative_quantiles(normal_steps(), LEVELS)

    for step in range(1, len(MEANS) + 1):
        total = norm(loc=MEANS[:step].sum(), scale=np.sqrt((SPREADS[:step] ** 2).sum()))
        np.testing.assert_allclose(result[step - 1], total.ppf(LEVELS), rtol=1e-10, atol=1e-14)


def test_monte_carlo_of_independent_steps_matches_and_covers_eighty_percent() -> None:
    rng = np.random.default_rng(0)
    paths = np.cumsum(rng.normal(MEANS, SPREADS, size=(400_000, len(MEANS))), axis=1)
    result = cumulative_quantiles(normal_steps(), LEVELS)
    summed = np.cumsum(normal_steps(), axis=0)  # the old band: per-step quantiles added

    empirical = np.quantile(paths, LEVELS, axis=0).T
    np.testing.assert_allclose(result, empirical, atol=4e-4)
    low, high = LEVELS.index(0.1), LEVELS.index(0.9)
    inside = (paths >= result[:, low]) & (paths <= result[:, high])
    np.testing.assert_allclose(inside.mean(axis=0), 0.8, atol=0.003)
    old_inside = (paths >= summed[:, low]) & (paths <= summed[:, high])
    assert old_inside.mean(axis=0)[-1] > 0.95  # why the old band was wrong


def test_step_one_is_the_models_own_quantiles_even_when_skewed() -> None:
    skewed = np.array([[-0.03, -0.02, 0.001, 0.01, 0.015], [-0.03, -0.02, 0.001, 0.01, 0.015]])

    result = cumulative_quantiles(skewed, LEVELS)

    np.testing.assert_allclose(result[0], skewed[0], rtol=1e-12)
    # two equal skewed steps: each side's distance from the centre grows by sqrt(2)
    centre = 2 * 0.001
    np.testing.assert_allclose(result[1] - centre, np.sqrt(2) * (skewed[0] - 0.001), rtol=1e-12)


def test_price_quantiles_are_the_last_price_times_exp_for_many_origins() -> None:
    steps = np.stack([normal_steps(), normal_steps(MEANS * 2, SPREADS / 2)])
    last = np.array([100.0, 2500.0])

    prices = price_quantiles(last, steps, LEVELS)

    assert prices.shape == (2, len(MEANS), len(LEVELS))
    for origin in range(2):
        expected = last[origin] * np.exp(cumulative_quantiles(steps[origin], LEVELS))
        np.testing.assert_allclose(prices[origin], expected, rtol=1e-12)
    assert (np.diff(prices, axis=-1) > 0).all()


def test_crossed_quantiles_still_give_an_ordered_band() -> None:
    crossed = np.array([[0.01, 0.02, 0.0, -0.01, 0.03]] * 3)  # q0.9 below the median

    result = cumulative_quantiles(crossed, LEVELS)

    assert np.isfinite(result).all() and (np.diff(result, axis=-1) >= 0).all()


@pytest.mark.parametrize(
    ("quantiles", "levels", "message"),
    [
        (np.zeros((3, 2)), [0.1, 0.9], "must include 0.5"),
        (np.zeros((3, 2)), [0.1, 0.5, 0.9], "Received: shape=(3, 2)"),
        (np.zeros(3), [0.1, 0.5, 0.9], "Received: shape=(3,)"),
    ],
)
def test_bad_shapes_and_levels_say_what_was_received(quantiles, levels, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cumulative_quantiles(quantiles, levels)
