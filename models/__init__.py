"""The stylizer zoo: `create_model(name, **config)`, `save_model`, `load_model`, and profiling helpers."""
from vst.models.checkpoint import load_model, read_metadata, save_model
from vst.models.profile import count_macs, count_params, fp32_size_mb
from vst.models.registry import (ARCHITECTURES, NAMED_CONFIGS, create_model, list_models, named_config_of,
                                 resolve, table2)
from vst.models.stylizer import Stylizer, StylizerSpec, check_input_size

__all__ = ["ARCHITECTURES", "NAMED_CONFIGS", "Stylizer", "StylizerSpec", "check_input_size", "count_macs",
           "count_params", "create_model", "fp32_size_mb", "list_models", "load_model", "named_config_of", "read_metadata",
           "resolve", "save_model", "table2"]
