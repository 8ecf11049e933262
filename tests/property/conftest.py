"""Hypothesis settings for the property suite: a modest, reproducible run in `make test`
(derandomized, no example database written into the tree); more examples with
SUPPORTBOT_HYPOTHESIS_EXAMPLES=<n> (e.g. 2000 for a long run)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "supportbot",
    max_examples=int(os.environ.get("SUPPORTBOT_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    derandomize=os.environ.get("SUPPORTBOT_HYPOTHESIS_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile("supportbot")
