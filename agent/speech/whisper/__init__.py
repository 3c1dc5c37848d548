"""Whisper in onnxruntime: log-mel features, the BPE tokenizer, the model (scoring candidates) and token tries."""
