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


def _mapped_after_reuse(tune: str, nbytes: int) -> int:
    """Bytes malloc holds in mmapped chunks while a second ``nbytes`` buffer is alive (the first was freed)."""
    code = (
        "import ctypes\n"
        "import numpy as np\n"
        "from agent.runtime import memory\n"
        f"{tune}\n"
        "class MI(ctypes.Structure):\n"
        "    _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',\n"
        "                                               'fsmblks', 'uordblks', 'fordblks', 'keepcost')]\n"
        "libc = ctypes.CDLL('libc.so.6'); libc.mallinfo2.restype = MI\n"
        f"a = np.ones({nbytes}, np.uint8); del a\n"
        f"before = libc.mallinfo2().hblkhd; b = np.ones({nbytes}, np.uint8)\n"
        "print(libc.mallinfo2().hblkhd - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PATH": ""})
    return int(out.stdout.strip())


def test_tuned_malloc_maps_big_transients_and_keeps_frames_on_the_heap() -> None:
    big, frame = 3 * 2**20, 640 * 480 * 3
    # glibc's default: the first big block is mapped, its free raises the threshold, the next lands on the heap
    assert _mapped_after_reuse("", big) == 0
    # pinned: every block over 1 MiB is mapped and unmapped again; a 640x480 frame stays on the heap
    assert _mapped_after_reuse("assert memory.tune_malloc()", big) >= big
    assert _mapped_after_reuse("assert memory.tune_malloc()", frame) == 0


def test_per_frame_models_get_an_arena_and_others_do_not() -> None:
    from agent.runtime.session import load_model
    from agent.vision import HandTracker

    hands = HandTracker(threads=1)
    assert hands.palm_model.session.get_session_options().enable_cpu_mem_arena
    assert hands.landmark_model.session.get_session_options().enable_cpu_mem_arena
    assert not load_model(hands.palm_model.path).session.get_session_options().enable_cpu_mem_arena
