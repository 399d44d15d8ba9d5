"""Hyperparameter sweeps, in four layers:

  search    space.py (the search space, random / grid trials), tpe.py (TPE, batch by batch), asha.py (ASHA's
            decisions, pure)
  plan      plan_types.py (Member, GroupPlan), grouping.py (trials into groups by program shape), canonical.py
            (buckets and branches from the space, not the draws), widths.py (width padding), balance.py (members
            over devices), plan.py (the plan, its checks and estimates); JAX-free
  execute   executors/ (the rung loop over one executor interface; local.py in this process, ray.py on Ray),
            execute.py (one group through the epoch loop), segment.py (a group's segment on a Ray worker),
            ray_backend.py (Ray plumbing)
  record    record.py (results.csv, summary.json, best config, merge of shards; files: mlexp/io/workdir.py)

runner.py strings them together (SweepRunner: plan, execute every batch, record). The Python API's
`mlexp.sweep(config)` is mlexp/api.py."""
