"""Word count that crashes and stalls on purpose: for fault-tolerance tests.

    mr submit jobs/crash.py --input /data --output /out/wc -D crash_rate=0.3 -D sleep_rate=0.3

Its output is identical to jobs/wordcount.py. In every task attempt (map or reduce), setup
draws the attempt's fate: with probability crash_rate (default 0.3) it dies with
os._exit(1) after a few records, with probability sleep_rate (default 0.3) it sleeps
sleep_seconds (default 5) once after a few records, otherwise it behaves. The fate comes
from a fresh random seed per attempt, so a retried task eventually succeeds. With
-D crash_seed=S the fate is derived from S and the task's first record instead: the same
task then meets the same fate in every attempt (reproducible; a task doomed to crash fails
the job after max_attempts).
"""

import hashlib
import os
import random
import time

_state = {"rate": 0.3, "sleep_rate": 0.3, "sleep": 5.0, "seed": None, "fate": None, "seen": 0}


def setup(params):
    _state["rate"] = float(params.get("crash_rate", "0.3"))
    _state["sleep_rate"] = float(params.get("sleep_rate", "0.3"))
    _state["sleep"] = float(params.get("sleep_seconds", "5"))
    _state["seed"] = params.get("crash_seed")
    _state["fate"] = None
    _state["seen"] = 0


def _maybe_fail(record):
    if _state["fate"] is None:
        if _state["seed"] is None:
            rng = random.Random(os.urandom(16))
        else:
            digest = hashlib.sha256(f"{_state['seed']}|{record!r}".encode()).digest()
            rng = random.Random(digest)
        roll = rng.random()
        at = rng.randrange(1, 20)
        if roll < _state["rate"]:
            _state["fate"] = ("crash", at)
        elif roll < _state["rate"] + _state["sleep_rate"]:
            _state["fate"] = ("sleep", at)
        else:
            _state["fate"] = ("none", 0)
    _state["seen"] += 1
    what, at = _state["fate"]
    if _state["seen"] == at:
        if what == "crash":
            os._exit(1)
        if what == "sleep":
            time.sleep(_state["sleep"])


def mapper(key, line):
    _maybe_fail(key)
    for word in line.split():
        yield word, 1


def combiner(word, counts):
    yield word, sum(counts)


def reducer(word, counts):
    _maybe_fail(word)
    yield word, sum(counts)
