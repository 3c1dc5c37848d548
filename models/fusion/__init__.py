"""Fusion training and evaluation: scenario synthesis, stand-in recognizers, late-fusion weight fitting,
the early-fusion joint classifier, and the ``homeagent eval fusion`` report. Training code only: the
runtime (``agent.fusion``) needs nothing from here but the fitted JSON files."""
