"""The real Celery app and beat schedule, every entry firing each second.

The fault suite runs ``celery -A tests.fault.short_beat beat``: the same task names and
arguments as schedules/beat.py, so a few seconds hold many fires of every scheduled task (the
tasks' own once-per-period keys use their real periods, which is what the tests check).
"""

from schedules.beat import BEAT_SCHEDULE
from worker.celery_app import app

FIRE_EVERY = 1.0

app.conf.beat_schedule = {
    name: {**entry, "schedule": FIRE_EVERY} for name, entry in BEAT_SCHEDULE.items()
}
