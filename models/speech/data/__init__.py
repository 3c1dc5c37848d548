"""Synthetic speech for training: engines, augmentation, negatives, word pools and cached data sets (the shipped
real-noise WAVs live in ``noise/``)."""
