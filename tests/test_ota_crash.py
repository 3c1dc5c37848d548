"""SIGKILL the installing process at every step in turn; the next start must run v1 or v2, never neither.

The install runs in a forked child whose step hook SIGKILLs itself (a real, unclean death: no finally
blocks, no atexit, no flush). The parent then does what the agent does at start: ``UpdateManager.start``.
"""

from __future__ import annotations

import os
import shutil
import signal
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.ota.manager import UpdateManager, load_slot_model, model_activator
from agent.ota.pack import pack
from agent.ota.store import Store
from agent.runtime.hotswap import HotSwap
from tests.test_ota_support import PROBE, Keys, keys, model_dir, store_v1_template, v1_bundle

_FIXTURES = (keys, store_v1_template, v1_bundle)

STEPS = ["fetched", "verified", "file_extracted", "staged", "selftested", "slot_committed", "switch_part_written",
         "switch_replaced", "switched", "activated", "confirmed"]


@pytest.fixture(scope="module")
def v2_bundle(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    d = tmp_path_factory.mktemp("v2")
    pack(model_dir(d, "m2", 2.0), d / "b2.tar.gz", version=2, key=keys.priv())
    return d / "b2.tar.gz"


def _install_in_child(root: Path, bundle: Path, keys: Keys, crash_at: str) -> int:
    """Fork; the child installs and SIGKILLs itself at ``crash_at``. Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            def hook(step: str) -> None:
                if step == crash_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            store = Store(root)
            cur = store.current()
            assert cur is not None
            holder: HotSwap[Any] = HotSwap(load_slot_model(*cur))
            UpdateManager(store, [keys.pub()], activate=model_activator(holder), isolate_selftest=False,
                          step_hook=hook).install(str(bundle))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _start(root: Path, keys: Keys) -> tuple[int, float]:
    """Agent start: boot the store and load the current slot. Returns (version, model(PROBE)/PROBE)."""
    mgr = UpdateManager(Store(root), [keys.pub()], isolate_selftest=False)
    loaded = mgr.start(lambda slot, m: (m.version, load_slot_model(slot, m)))
    assert loaded is not None, "no model could be started"
    version, model = loaded
    y = np.asarray(model({"x": PROBE})[0])
    return version, float((y / PROBE).mean())


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step(step: str, tmp_path: Path, keys: Keys, store_v1_template: Path,
                              v2_bundle: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(store_v1_template, root, symlinks=True)
    status = _install_in_child(root, v2_bundle, keys, step)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"child was not killed at {step}"
    version, gain = _start(root, keys)
    assert (version, gain) in ((1, 1.0), (2, 2.0)), f"after a kill at {step}: v{version} computes x*{gain}"
    expect_new = STEPS.index(step) >= STEPS.index("switch_replaced")
    assert version == (2 if expect_new else 1), f"kill at {step} started v{version}"
    st = Store(root).state()
    assert not any((root / "staging").iterdir()) and not any((root / "downloads").iterdir())
    if expect_new and step != "confirmed":
        assert st.pending is not None and st.pending.boot_attempts == 1  # unconfirmed: counting boots
        assert sorted(p.name for p in (root / "slots").iterdir()) == ["v1", "v2"]
    else:
        assert st.pending is None


def test_crash_loop_after_switch_rolls_back(tmp_path: Path, keys: Keys, store_v1_template: Path,
                                            v2_bundle: Path) -> None:
    """v2 goes live but the agent dies before confirming it, on every start: after 3 boots, back to v1."""
    root = tmp_path / "store"
    shutil.copytree(store_v1_template, root, symlinks=True)
    status = _install_in_child(root, v2_bundle, keys, "activated")
    assert os.WIFSIGNALED(status)
    seen = [_start(root, keys)[0] for _ in range(4)]
    assert seen == [2, 2, 2, 1]
    st = Store(root).state()
    assert st.current == "v1" and st.pending is None and st.min_version == 2
    assert "crash loop" in st.last_event
    assert _start(root, keys) == (1, 1.0)  # stays on v1, and v2 can never be installed again


def test_a_healthy_run_confirms_the_switch_so_clean_boots_never_roll_back(
        tmp_path: Path, keys: Keys, store_v1_template: Path, v2_bundle: Path) -> None:
    """Issue 20: killed between switch and confirm, a healthy v2 ran 3 clean boots and was rolled back on the
    4th as a 'crash loop'. The daemon now confirms a pending switch once it has run healthy for a while."""
    root = tmp_path / "store"
    shutil.copytree(store_v1_template, root, symlinks=True)
    assert os.WIFSIGNALED(_install_in_child(root, v2_bundle, keys, "activated"))
    for _ in range(5):  # boots that each run healthy long enough
        mgr = UpdateManager(Store(root), [keys.pub()], isolate_selftest=False)
        loaded = mgr.start(lambda slot, m: m.version)
        assert loaded == 2
        mgr.confirm_pending()
    st = Store(root).state()
    assert st.current == "v2" and st.pending is None and "confirmed" in st.last_event


def test_the_daemon_confirms_after_confirm_after_s(broker: Any, tmp_path: Path) -> None:
    """The daemon's run loop calls confirm_pending once, after ota.confirm_after_s of healthy running (the
    store side is the test above; here only the daemon's timing, with a recording stand-in for the manager)."""
    import threading
    import time

    from agent.config.schema import AgentConfig
    from agent.daemon.agent import Agent
    from agent.sources.wav_replay import WavReplaySource

    cfg = AgentConfig.model_validate({"site_id": "ota", "state_dir": str(tmp_path),
                                      "mqtt": {"host": broker.host, "port": broker.port},
                                      "ota": {"confirm_after_s": 1.0}})
    agent = Agent(cfg, audio=WavReplaySource(pcm=np.zeros(16000 * 30, np.int16), realtime=True))

    class Recorder:
        calls: typing.ClassVar[list[float]] = []
        latest = None

        def start(self, load: Any) -> None:
            return None

        def confirm_pending(self) -> bool:
            self.calls.append(time.monotonic())
            return True

    rec = Recorder()
    agent.ota = rec
    t0 = time.monotonic()
    runner = threading.Thread(target=agent.run, kwargs={"install_signals": False})
    runner.start()
    time.sleep(2.5)
    agent.stop()
    runner.join(5)
    assert len(rec.calls) == 1 and 0.9 <= rec.calls[0] - t0 <= 2.0, [c - t0 for c in rec.calls]
