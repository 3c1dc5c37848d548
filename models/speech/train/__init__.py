"""Training of speech heads, grammar heads and wake phrases, their export, calibration and bundle writing."""
