"""Reports for mlexp workdirs: findings (pure), figures (matplotlib Agg), render (md + html)."""
