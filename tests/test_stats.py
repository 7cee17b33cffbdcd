"""common.stats: bootstrap intervals of means and differences, IQM, stratified bootstrap, probability of improvement.

Oracles: hand computations, the normal interval for many samples, and rliable 1.2.0 (test-only).
"""

from __future__ import annotations

import numpy as np
import pytest

from common.stats import (
    difference_interval, interval_estimate, iqm, mean_interval, probability_of_improvement,
    probability_of_improvement_interval, stratified_bootstrap,
)


def test_iqm_of_one_to_eight_is_mean_of_middle_four():
    # 8 scores: trimming 25% drops 2 at each end, leaving 3, 4, 5, 6 -> 4.5
    scores = np.arange(1, 9, dtype=float).reshape(4, 2)
    assert iqm(scores) == pytest.approx(4.5)
    # an outlier in the trimmed quarter does not move it
    scores[0, 0] = -1000.0
    assert iqm(scores) == pytest.approx(4.5)


def test_iqm_ragged_tasks_pools_runs():
    # 4 pooled scores 0, 1, 2, 100: trimming int(0.25 * 4) = 1 at each end leaves 1, 2 -> 1.5
    assert iqm([np.array([0.0, 100.0]), np.array([1.0]), np.array([2.0])]) == pytest.approx(1.5)


def test_probability_of_improvement_by_hand():
    # task 1: x = {1, 3}, y = {2}: pairs (1>2)=0, (3>2)=1 -> 1/2; task 2: x = {5, 5}, y = {5}: ties -> 1/2
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    y = np.array([[2.0, 5.0]])
    assert probability_of_improvement(x, y) == pytest.approx(0.5)
    # task 2 now strictly better for x: (1/2 + 1) / 2 = 0.75
    x[:, 1] = 6.0
    assert probability_of_improvement(x, y) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="x has 2 tasks, y has 1"):
        probability_of_improvement(x, y[:, :1])


def test_stratified_bootstrap_keeps_the_task_mix():
    # task 1 always 0, task 2 always 10: every stratified resample has mean 5 exactly,
    # while pooling the runs across tasks would draw means anywhere in [0, 10].
    scores = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    boot = stratified_bootstrap(scores, lambda ts: np.concatenate(ts, axis=-1).mean(axis=-1), np.random.default_rng(0), 200)
    assert np.all(boot == 5.0)
    est = interval_estimate(scores, np.random.default_rng(0), num_resamples=200)
    assert est["value"] == 5.0 and est["ci"] == [5.0, 5.0]


def test_stratified_bootstrap_resamples_within_tasks():
    # one task with runs {0, 1}: a resample of 2 runs has mean 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4
    scores = np.array([[0.0], [1.0]])
    boot = stratified_bootstrap(scores, lambda ts: ts[0].mean(axis=-1), np.random.default_rng(1), 4000)
    assert set(np.unique(boot)) == {0.0, 0.5, 1.0}
    assert np.mean(boot == 0.5) == pytest.approx(0.5, abs=0.03)


def test_same_generator_state_gives_same_interval():
    scores = np.random.default_rng(3).normal(size=(5, 3))
    a = probability_of_improvement_interval(scores, scores - 0.5, np.random.default_rng(7), num_resamples=300)
    b = probability_of_improvement_interval(scores, scores - 0.5, np.random.default_rng(7), num_resamples=300)
    assert a == b and 0.0 <= a["ci"][0] <= a["value"] <= a["ci"][1] <= 1.0


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"expected \(num_runs, num_tasks\)"):
        iqm(np.zeros(3))
    with pytest.raises(ValueError, match="at least one run"):
        iqm([np.zeros(0)])


# ------------------------------------------------------------------------------------------------
# Means and differences of means
# ------------------------------------------------------------------------------------------------


def test_mean_interval_of_two_points_by_hand():
    # {0, 1}: a resample's mean is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4, so the central 95% reaches both ends
    assert mean_interval(np.array([0.0, 1.0]), np.random.default_rng(0), 4000) == (0.0, 1.0)
    # the central 40% (30% .. 70% quantiles) is the middle value only
    assert mean_interval(np.array([0.0, 1.0]), np.random.default_rng(0), 4000, confidence=0.4) == (0.5, 0.5)


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_mean_interval_matches_the_normal_interval_for_many_episodes(method):
    # n = 400 normal values: the bootstrap interval of the mean is close to mean +- 1.96 s / sqrt(n)
    x = np.random.default_rng(5).normal(3.0, 2.0, size=400)
    half = 1.959964 * x.std(ddof=1) / np.sqrt(x.size)
    lo, hi = mean_interval(x, np.random.default_rng(1), 20_000, method=method)
    assert lo == pytest.approx(x.mean() - half, abs=0.05 * half)
    assert hi == pytest.approx(x.mean() + half, abs=0.05 * half)


def test_mean_interval_of_one_value_is_that_value():
    assert mean_interval(np.array([2.5]), np.random.default_rng(0)) == (2.5, 2.5)


def test_paired_difference_resamples_pairs_together():
    # y = x - 1 exactly: every paired resample has difference 1; unpaired resamples mix the units and spread out
    x = np.random.default_rng(2).normal(size=30)
    y = x - 1.0
    lo, hi = difference_interval(x, y, np.random.default_rng(0), 2000, paired=True)
    assert lo == pytest.approx(1.0, abs=1e-12) and hi == pytest.approx(1.0, abs=1e-12)
    lo, hi = difference_interval(x, y, np.random.default_rng(0), 2000, paired=False)
    assert lo < 0.8 and hi > 1.2
    with pytest.raises(ValueError, match="paired samples differ in length: 30 and 29"):
        difference_interval(x, y[:-1], np.random.default_rng(0), paired=True)


def test_unpaired_difference_of_constant_samples_by_hand():
    # train {2, 2, 2}, test {0, 1}: the test mean takes 0, 1/2, 1 -> differences 2, 1.5, 1
    lo, hi = difference_interval(np.full(3, 2.0), np.array([0.0, 1.0]), np.random.default_rng(3), 4000)
    assert (lo, hi) == (1.0, 2.0)


def test_interval_inputs_are_checked():
    with pytest.raises(ValueError, match=r"samples has shape \(2, 2\)"):
        mean_interval(np.zeros((2, 2)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="confidence is 1.5"):
        mean_interval(np.zeros(3), np.random.default_rng(0), confidence=1.5)


# ------------------------------------------------------------------------------------------------
# rliable 1.2.0 as the oracle (test-only)
# ------------------------------------------------------------------------------------------------

rly_metrics = pytest.importorskip("rliable.metrics")
rly_library = pytest.importorskip("rliable.library")


def _rliable_interval(score_dict, func, reps, seed):
    """rliable's percentile interval; its resampling draws from numpy's global generator, restored afterwards."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        points, cis = rly_library.get_interval_estimates(score_dict, func, reps=reps)
    finally:
        np.random.set_state(state)
    return points, cis


def test_rliable_published_example():
    # rliable's own metrics test: x (4 runs x 2 tasks), y (3 runs x 2 tasks)
    x = np.array([[1, 2], [2, 2], [1, 1], [2, 1]], dtype=float)
    y = np.array([[1, 1], [2, 2], [3, 3]], dtype=float)
    assert iqm(x) == rly_metrics.aggregate_iqm(x) == 1.5
    assert iqm(y) == rly_metrics.aggregate_iqm(y) == 2
    assert probability_of_improvement(x, y) == pytest.approx(rly_metrics.probability_of_improvement(x, y), abs=1e-15)
    assert probability_of_improvement(x, y) == pytest.approx(1 / 3, abs=1e-15)
    # rliable's library test matrices: 5 runs x 16 tasks and the runs reversed
    a = np.arange(80, dtype=float).reshape(5, 16)
    b = np.flip(a, axis=0)
    assert iqm(a) == rly_metrics.aggregate_iqm(a)
    assert probability_of_improvement(a, b) == rly_metrics.probability_of_improvement(a, b) == 0.5


@pytest.mark.parametrize("seed", range(4))
def test_point_values_equal_rliable_on_random_score_matrices(seed):
    rng = np.random.default_rng(seed)
    runs_x, runs_y, tasks = rng.integers(2, 9, size=3)
    x = rng.normal(size=(runs_x, tasks)).round(1)  # rounded: ties occur
    y = rng.normal(0.3, 1.0, size=(runs_y, tasks)).round(1)
    assert iqm(x) == pytest.approx(rly_metrics.aggregate_iqm(x), rel=1e-13, abs=1e-13)
    assert probability_of_improvement(x, y) == pytest.approx(rly_metrics.probability_of_improvement(x, y), abs=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_intervals_agree_with_rliable_on_random_score_matrices(seed):
    # Different generators draw different resamples, so the endpoints agree up to Monte Carlo error: with 4000
    # resamples an endpoint has a standard error of about 2% of the interval width (measured differences up to 3%);
    # allow 8%, and 12% for the probability of improvement, whose bootstrap distribution is discrete.
    rng = np.random.default_rng(10 + seed)
    x = rng.gamma(2.0, 1.0, size=(6, 4))
    y = rng.gamma(2.0, 1.2, size=(5, 4))
    reps = 4000
    ours = interval_estimate(x, np.random.default_rng(seed), num_resamples=reps)
    points, cis = _rliable_interval({"x": x}, lambda s: np.array([rly_metrics.aggregate_iqm(s)]), reps, seed)
    width = ours["ci"][1] - ours["ci"][0]
    assert ours["value"] == pytest.approx(points["x"][0], rel=1e-13)
    assert ours["ci"] == pytest.approx([cis["x"][0][0], cis["x"][1][0]], abs=0.08 * width)

    ours = probability_of_improvement_interval(x, y, np.random.default_rng(seed), num_resamples=1000)
    points, cis = _rliable_interval({"xy": [x, y]}, rly_metrics.probability_of_improvement, 1000, seed)
    width = ours["ci"][1] - ours["ci"][0]
    assert ours["value"] == pytest.approx(points["xy"], abs=1e-13)
    assert ours["ci"] == pytest.approx(np.ravel(cis["xy"]).tolist(), abs=0.12 * width)


def test_cluster_bootstrap_redraws_whole_clusters_by_hand():
    from common.stats import cluster_bootstrap, percentile_interval

    # cluster a = three states of value 1, cluster b = one state of value 5. Two clusters drawn with replacement:
    # (a, a) -> mean 1 (p 1/4), (a, b) or (b, a) -> (3 + 5) / 4 = 2 (p 1/2), (b, b) -> 5 (p 1/4)
    boot = cluster_bootstrap(np.array([1.0, 1.0, 1.0, 5.0]), np.array(["a", "a", "a", "b"]), np.mean,
                             np.random.default_rng(0), 4000)
    values, counts = np.unique(boot, return_counts=True)
    assert values.tolist() == [1.0, 2.0, 5.0]
    np.testing.assert_allclose(counts / 4000, [0.25, 0.5, 0.25], atol=0.03)
    assert percentile_interval(boot).tolist() == [1.0, 5.0]
    # a vector statistic gives one column per component
    two = cluster_bootstrap(np.array([1.0, 3.0]), np.array([0, 1]), lambda x: [x.min(), x.max()], np.random.default_rng(1), 50)
    assert two.shape == (50, 2) and set(np.unique(two[:, 0])) <= {1.0, 3.0}
    with pytest.raises(ValueError, match="one label per value"):
        cluster_bootstrap(np.ones(3), np.zeros(2), np.mean, np.random.default_rng(0))
