"""Audio path: WAV I/O and resampling, VAD, utterance segmentation."""
