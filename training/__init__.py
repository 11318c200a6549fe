"""Training of the zoo's stylizers: 000's two stages (perceptual or distillation, then temporal fine-tuning)."""
from vst.training.loop import Recipe, train
from vst.models.shipped import shipped_model_info, shipped_models, trained_dir

__all__ = ["Recipe", "shipped_model_info", "shipped_models", "train", "trained_dir"]
