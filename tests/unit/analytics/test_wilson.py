"""Wilson score intervals against published values (Newcombe 1998, Table I; Wilson 1927)."""
from __future__ import annotations

import pytest

from supportbot.analytics.wilson import wilson


@pytest.mark.parametrize("successes,trials,low,high", [
    (8, 10, 0.4902, 0.9433),  # the example: 8/10 -> 0.490-0.943
    (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),  # Newcombe's example 81/263
    (15, 148, 0.0624, 0.1605),  # Newcombe's example 15/148
])
def test_known_values(successes, trials, low, high):
    interval = wilson(successes, trials)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_bounds_and_no_trials():
    assert wilson(0, 0) is None
    assert wilson(0, 3).low == 0.0 and wilson(3, 3).high == 1.0
    for bad in ((-1, 3), (4, 3), (0, -1)):
        with pytest.raises(ValueError):
            wilson(*bad)
