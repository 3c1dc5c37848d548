"""Wake phrases: the detector (head on speech embeddings), its Whisper check, and the pipeline gate."""
