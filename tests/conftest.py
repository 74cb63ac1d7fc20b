import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# deterministic hypothesis profile (design.md §4.8): derandomized, no deadline (numba compiles on first call)
settings.register_profile("kernapprox", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kernapprox"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
