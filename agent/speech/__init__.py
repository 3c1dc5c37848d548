"""Speech commands: the shared feature frontend, command sets and the bundle-based recognizer.

Training code lives in ``models/speech``; this package only runs ONNX models (no torch).
"""
