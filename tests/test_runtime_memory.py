"""glibc malloc tuning: arenas capped once, freed heap pages handed back, trims rate-limited."""

from __future__ import annotations

import subprocess
import sys

from agent.runtime import memory


def test_trim_returns_freed_heap_pages() -> None:
    # many medium blocks on the heap (under the mmap threshold), then every other one freed: only a trim
    # can hand those holes back
    code = (
        "import numpy as np\n"
        "from agent.bench.stats import rss_mb\n"
        "from agent.runtime import memory\n"
        "xs = [np.ones(12000) for _ in range(4000)]\n"
        "del xs[::2]\n"
        "before = rss_mb(); released = memory.trim(); after = rss_mb()\n"
        "print(released, before - after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True"
    assert float(out[1]) > 50.0  # ~190 MB was freed in holes; most of it goes back


def test_trimmer_trims_at_most_once_per_period() -> None:
    t = memory.Trimmer(period_s=3600.0)
    for _ in range(5):
        t.maybe_trim()
    assert t.trims == 0
    t.period_s = 0.0
    t.maybe_trim()
    t.maybe_trim()
    assert t.trims == 2


def test_arena_limit_respects_the_environment() -> None:
    code = "from agent.runtime import memory; print(memory.limit_malloc_arenas())"
    env_set = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"MALLOC_ARENA_MAX": "4", "PATH": ""}).stdout.strip()
    unset = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PATH": ""}).stdout.strip()
    assert (env_set, unset) == ("False", "True")


def test_per_frame_models_get_an_arena_and_others_do_not() -> None:
    from agent.runtime.session import load_model
    from agent.vision import HandTracker

    hands = HandTracker(threads=1)
    assert hands.palm_model.session.get_session_options().enable_cpu_mem_arena
    assert hands.landmark_model.session.get_session_options().enable_cpu_mem_arena
    assert not load_model(hands.palm_model.path).session.get_session_options().enable_cpu_mem_arena
