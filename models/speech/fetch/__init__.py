"""Build steps that fetch and convert pretrained speech models (frontend, VAD, recognizer, Kokoro voice)."""
