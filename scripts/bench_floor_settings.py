"""Settings of the benchmark floors (`scripts/bench_floor.py`): production's, with the floors'
own URLs in place of the app's, so the floors pay the same middleware, server and workers."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench_floor"
