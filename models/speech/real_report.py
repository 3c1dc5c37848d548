"""All real-voice measures of the speech recognizers, and their reports: ``python -m models.speech.real_report``.

Runs, on the development recordings (``models.devdata``; measuring and calibrating only):

- :mod:`models.speech.measure.real_sentences`: full sentences of real people snapped to a set's grammar, clean
  and with kitchen noise at 6 dB, and false accepts per hour of every sentence set on real non-command speech
  and noise (``reports/real_sentences.{md,json}``);
- :mod:`models.speech.measure.real_report`: the single-word sets (Speech Commands core-10, spoken digits),
  their false accepts, int8 against float and latency (``reports/real_speech.{md,json}``).

``--quick`` skips the single-word float pass. Each part can also be run alone with its own options.
"""

from __future__ import annotations

import argparse
import sys

from .measure import real_report, real_sentences


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the float pass of the single-word sets")
    args = ap.parse_args(argv)
    rc = real_sentences.main([])
    return rc or real_report.main(["--no-float"] if args.quick else [])


if __name__ == "__main__":
    sys.exit(main())
