"""The statistics of an A/B test on proportions (x successes of n): the Wilson score interval
of one rate, Newcombe's interval for the difference of two (his method 10, built from the two
Wilson intervals), the pooled two-proportion z-test, and the Bayesian probability that one
rate beats another under uniform priors (Beta(1 + x, 1 + n - x) posteriors), computed exactly.

References: Wilson (1927); Newcombe, "Interval estimation for the difference between
independent proportions", Statistics in Medicine 17 (1998); Evan Miller, "Formulas for
Bayesian A/B testing" (2015)."""

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The 95% Wilson score interval of successes/trials; [0, 1] when there are no trials."""
    if trials == 0:
        return Interval(0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - spread), min(1.0, centre + spread))


def difference_interval(x1: int, n1: int, x2: int, n2: int) -> Interval:
    """Newcombe's 95% interval for p2 - p1 (the variant's rate minus the control's)."""
    if n1 == 0 or n2 == 0:
        return Interval(-1.0, 1.0)
    p1, p2 = x1 / n1, x2 / n2
    a, b = wilson(x1, n1), wilson(x2, n2)
    below = math.sqrt((p2 - b.low) ** 2 + (a.high - p1) ** 2)
    above = math.sqrt((b.high - p2) ** 2 + (p1 - a.low) ** 2)
    return Interval(p2 - p1 - below, p2 - p1 + above)


def z_test_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-sided p-value of the pooled two-proportion z-test; 1.0 when it cannot tell."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def probability_to_beat(x1: int, n1: int, x2: int, n2: int) -> float:
    """P(p2 > p1) for p1 ~ Beta(1 + x1, 1 + n1 - x1) and p2 ~ Beta(1 + x2, 1 + n2 - x2):
    Evan Miller's closed form, a sum of 1 + x2 terms; when x1 is the smaller, its complement
    (the distributions are continuous, so P(p2 > p1) = 1 - P(p1 > p2)) sums fewer."""
    if x1 < x2:
        return 1.0 - _beats(1 + x2, 1 + n2 - x2, 1 + x1, 1 + n1 - x1)
    return _beats(1 + x1, 1 + n1 - x1, 1 + x2, 1 + n2 - x2)


def _beats(alpha_a: int, beta_a: int, alpha_b: int, beta_b: int) -> float:
    """P(B > A) = sum over i < alpha_b of
    B(alpha_a + i, beta_a + beta_b) / ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a))."""
    log_a = _log_beta(alpha_a, beta_a)
    terms = (
        math.exp(
            _log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - _log_beta(1 + i, beta_b)
            - log_a
        )
        for i in range(alpha_b)
    )
    return min(1.0, max(0.0, math.fsum(terms)))
