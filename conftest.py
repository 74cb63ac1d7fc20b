"""Settings of every test session (tests/ and paper_checks/): one BLAS thread.

The tests check results, not speed. On the 2-core CI machine, OpenBLAS's worker threads spin while
they wait, which adds CPU time to every small product without making the suite faster; numba's own
threads (the tiled kernels) are left as configured, so the parallel code paths are still exercised.
"""
from threadpoolctl import threadpool_limits

_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")
