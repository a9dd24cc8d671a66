"""Training: the decoders (``python -m wct.train``, ``wct train-decoder``) and the light engine's distilled encoder."""

from .decoder import (
    TrainConfig,
    add_arguments,
    config_from_args,
    evaluate,
    export_decoder,
    feature_scale,
    split_images,
    train_decoder,
    transferred,
)
from .distill import DistillConfig, distill_encoder

__all__ = ["TrainConfig", "train_decoder", "split_images", "feature_scale", "evaluate", "export_decoder",
           "add_arguments", "config_from_args", "transferred", "DistillConfig", "distill_encoder"]
