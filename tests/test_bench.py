"""The bench command runs the whole pipeline and reports every figure of its contract (values are not timed)."""

from __future__ import annotations

import json

import pytest

from agent.cli import main


@pytest.mark.parametrize("landmarks", ["full", "lite"])
def test_bench_json_contract(capsys, landmarks: str) -> None:  # type: ignore[no-untyped-def]
    assert main(["bench", "--seconds", "3", "--flat-out", "--json", "--landmarks", landmarks]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["landmarks"] == landmarks
    assert r["int8_vs_float"]["hands_found_int8"] > 0 and r["int8_vs_float"]["landmark_mean_err_hand_size"] < 0.02
    assert set(r["cpu_core_s_per_s"]) >= {"idle", "busy"}
    assert all(r["cpu_core_s_per_s"][k] > 0 for k in ("idle", "busy"))
    for key in ("speech_to_publish_ms", "frame_to_gesture_ms"):
        assert set(r[key]) >= {"p50", "p95"}
        assert r[key]["p50"] <= r[key]["p95"]
    assert r["rss_mb"] > 0 and isinstance(r["dropped_frames"], int)
    assert r["int8_speedup"] > 0
    busy = r["phases"][1]
    assert busy["intents"] >= 1, "the busy room speaks commands"
    assert busy["video_processed"] > 0
    idle = r["phases"][0]
    assert idle["intents"] == 0 and idle["gesture_events"] == 0
    assert idle["video_skipped_still"] > idle["video_processed"], "a still room must skip vision work"


def test_soak_growth_is_robust_to_trim_swings_but_sees_a_leak() -> None:
    from agent.bench.full import soak_window_medians

    times = [30.0 * i for i in range(121)]  # a 60-minute soak sampled every 30 s
    swinging = [(t, 200.0 if i % 3 else 185.0) for i, t in enumerate(times)]  # trims: -15 MB now and then
    base, end = soak_window_medians(swinging, 60.0)
    assert abs(end - base) / base < 0.001
    leaking = [(t, 180.0 + t / 360.0) for t in times]  # +10 MB over the hour
    base, end = soak_window_medians(leaking, 60.0)
    assert 0.04 < (end - base) / base < 0.06


def test_soak_trend_sees_a_leak_but_not_level_switches() -> None:
    from agent.bench.full import soak_trend_pct

    times = [30.0 * i for i in range(121)]
    # the heap sits ~25 MB lower for a stretch early and late in the hour, with no trend (as measured)
    levels = [(t, 175.0 if 60 <= t < 400 or 2400 <= t < 3100 else 200.0) for t in times]
    assert abs(soak_trend_pct(levels)) < 1.0
    leaking = [(t, 180.0 + t / 360.0 + (5.0 if i % 4 == 0 else 0.0)) for i, t in enumerate(times)]
    assert 4.5 < soak_trend_pct(leaking) < 6.0  # +10 MB over the hour from ~180 MB
