"""The eval's metrics, calibration, table and plot, and the ``homeagent eval fusion`` command (not the slow
scenario build: ``homeagent eval fusion`` itself runs that)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from agent.cli import build_parser
from models.fusion import report, systems

ROWS = [{"snr_db": snr, "voice_only": 0.5, "gesture_only": 0.4, "early": 0.6, "late": 0.8,
         "late_false_actions": 0.01, "early_false_actions": 0.02, "voice_only_false_actions": 0.03,
         "gesture_only_false_actions": 0.0, "n": 10} for snr in (None, 10.0, 5.0, 0.0, -5.0)]


def test_rates_count_wrong_actions_and_actions_where_abstaining_was_right() -> None:
    truths = ["a", "b", "abstain", "abstain"]
    acc, fa = systems.rates(["a", "abstain", "c", "abstain"], truths)
    assert acc == pytest.approx(0.5) and fa == pytest.approx(0.25)


def test_calibration_keeps_false_actions_under_the_bound() -> None:
    decisions = [("a", 0.9), ("b", 0.8), ("x", 0.7), ("c", 0.6)]
    truths = ["a", "b", "abstain", "c"]
    t = systems.calibrate(decisions, truths, max_fa=0.0)
    assert t == pytest.approx(0.8)
    assert systems.apply(decisions, t) == ["a", "b", "abstain", "abstain"]


def test_table_and_plot(tmp_path: Path) -> None:
    text = report.table(ROWS)
    assert "clean" in text and "-5 dB" in text
    png = tmp_path / "plot.png"
    report.plot(ROWS, png)
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 100


def test_eval_fusion_runs_the_build_time_evaluation_with_its_options() -> None:
    """The runtime never imports models/: the command passes its options to ``python -m models.fusion.run``."""
    import subprocess
    import sys

    args = build_parser().parse_args(["eval", "fusion", "--json", "--scenarios", "50"])
    assert args.options == ["--json", "--scenarios", "50"] and callable(args.func)
    r = subprocess.run([sys.executable, "-m", "agent", "eval", "fusion", "--help"], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0 and "--scenarios" in r.stdout and "--data DIR" in r.stdout, r.stdout + r.stderr


def test_eval_fusion_without_dev_data_says_what_is_missing(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "agent", "eval", "fusion", "--data", str(tmp_path / "none"),
                        "--scenarios", "5", "--refit"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "development data not found" in r.stderr and "HOMEAGENT_DEV_DATA" in r.stderr, r.stderr
