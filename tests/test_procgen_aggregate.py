"""Aggregation across games and seeds: IQM, stratified bootstrap, probability of improvement (hand-computed)."""

from __future__ import annotations

import numpy as np
import pytest

from procgen_checks.aggregate import (
    interval_estimate, iqm, probability_of_improvement, probability_of_improvement_interval, stratified_bootstrap,
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
