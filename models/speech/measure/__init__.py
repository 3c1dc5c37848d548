"""Measurements of speech bundles on held-out and real voices (reports in ``models/speech/reports``)."""
