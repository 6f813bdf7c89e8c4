"""The garbage collector of a serving process, set for short pauses.

A serving process holds a few hundred thousand long-lived objects: the framework, the parsed
policy, the consent answers it keeps. With CPython's default thresholds a young collection runs
every 700 new containers and, every hundred of those, a full collection walks all of them,
answering nothing for tens of milliseconds: most of a busy consent endpoint's slowest answers.
Once the application is up, what exists then moves out of the collector's sight (`gc.freeze`),
and collections run less often; reference cycles are still collected.
"""

from __future__ import annotations

import gc
from functools import cache

# Young collections every 20,000 new containers; middle ones every 20 of those; full ones every 100 middle ones.
THRESHOLDS = (20_000, 20, 100)


@cache
def tune_for_serving() -> None:
    """Freeze what the process built so far and space collections out (once per process)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
