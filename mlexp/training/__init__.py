"""Training: the pure program (program.py: step.py, evaluation.py, bookkeeping.py, state.py, optim.py), compiled
programs shared in a process (programs.py), groups of models (group.py), single runs (trainer.py). The Python
API's `mlexp.train(config)` is mlexp/api.py."""
