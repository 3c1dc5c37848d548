"""Speech model tooling: frontend fetch, synthetic data, training and export (never imported at runtime)."""
