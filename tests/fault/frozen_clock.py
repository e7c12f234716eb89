"""The real Celery app with the scheduled jobs' period clock held at one instant.

``Processes`` starts workers through this module when the environment names
``TICKWORK_TEST_FROZEN_CLOCK`` (seconds since the epoch): every once-per-period key is then taken
in the same period however long the test runs, so a test of "once per period" never straddles a
period boundary and needs no guard for one.
"""

import os

from worker import locks
from worker.celery_app import app

FROZEN = float(os.environ["TICKWORK_TEST_FROZEN_CLOCK"])
locks.clock = lambda: FROZEN

__all__ = ["app"]
