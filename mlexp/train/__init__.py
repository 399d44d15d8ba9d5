"""Training: the pure program (program.py, optim.py), groups of models (group.py), single runs (trainer.py)."""
