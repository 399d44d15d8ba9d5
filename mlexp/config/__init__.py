"""Config building blocks used by the files in configs/ (big_vision style: configs are Python).

`configs/<model>.py:get_config(arg)` starts from `base_config()`, sets its model and data, and applies
`smoke` when asked (`--config=configs/gru.py:smoke`).
"""
from mlexp.config.defaults import (apply_smoke, base_config, from_json, image_config, model_config, parse_arg,
                                   sequence_config, sweep_block)
from mlexp.config.validate import (ConfigError, validate, validate_against_data, validate_dataset,
                                   validate_kind)

__all__ = ["base_config", "from_json", "image_config", "sequence_config", "model_config", "parse_arg", "apply_smoke", "sweep_block", "ConfigError", "validate",
           "validate_against_data", "validate_dataset", "validate_kind"]
