"""The A/B tests' statistics against figures from textbooks and worked by hand."""

import pytest

from leadloop.analytics import experiment_stats as stats


def test_the_wilson_interval_of_half_of_a_hundred():
    interval = stats.wilson(50, 100)

    assert interval.low == pytest.approx(0.4038, abs=1e-4)
    assert interval.high == pytest.approx(0.5962, abs=1e-4)


def test_the_wilson_interval_of_none_of_ten_is_not_zero_wide():
    # Centre and half-width are both (1.96^2 / 20) / (1 + 1.96^2 / 10) = 0.1388.
    interval = stats.wilson(0, 10)

    assert (interval.low, interval.high) == (0.0, pytest.approx(0.2775, abs=1e-4))


def test_no_trials_say_nothing():
    assert stats.wilson(0, 0) == stats.Interval(0.0, 1.0)
    assert stats.z_test_p_value(0, 0, 3, 10) == 1.0


def test_newcombes_interval_for_the_difference_matches_his_paper():
    # Newcombe (1998), example (a): 56/70 against 48/80, method 10: 0.0524 to 0.3339.
    interval = stats.difference_interval(48, 80, 56, 70)

    assert interval.low == pytest.approx(0.0524, abs=1e-4)
    assert interval.high == pytest.approx(0.3339, abs=1e-4)


def test_the_two_proportion_z_test():
    # Pooled p = 104/150; se = sqrt(p(1 - p)(1/80 + 1/70)) = 0.07547; z = 0.2 / se = 2.650,
    # two-sided p = 0.0080.
    assert stats.z_test_p_value(48, 80, 56, 70) == pytest.approx(0.0080, abs=1e-4)
    # Equal rates: z = 0, p = 1.
    assert stats.z_test_p_value(30, 100, 30, 100) == pytest.approx(1.0)


def test_the_probability_to_beat_worked_by_hand():
    # A: 1 of 1 (Beta(2, 1), density 2a); B: 0 of 1 (Beta(1, 2), density 2(1 - b)).
    # P(B > A) = integral over b of 2(1 - b) * b^2 = 2 (1/3 - 1/4) = 1/6.
    assert stats.probability_to_beat(1, 1, 0, 1) == pytest.approx(1 / 6, abs=1e-12)
    assert stats.probability_to_beat(0, 1, 1, 1) == pytest.approx(5 / 6, abs=1e-12)


def test_equal_results_are_a_coin_toss_and_lopsided_ones_a_certainty():
    assert stats.probability_to_beat(30, 100, 30, 100) == pytest.approx(0.5, abs=1e-9)
    assert stats.probability_to_beat(10, 100, 30, 100) == pytest.approx(1.0, abs=1e-3)
    assert stats.probability_to_beat(30, 100, 10, 100) == pytest.approx(0.0, abs=1e-3)


def test_the_probability_to_beat_is_quick_and_steady_at_a_hundred_thousand_visitors():
    # Normal approximation: difference 0.003, sd sqrt(2 * 0.2 * 0.8 / 100000) = 0.001789,
    # z = 1.677, so P = 0.953.
    assert stats.probability_to_beat(20000, 100000, 20300, 100000) == pytest.approx(
        0.953, abs=0.002
    )
