"""Training: the decoders (``python -m wct.train``, ``wct train-decoder``) and the light model's distilled encoder
(``wct distill-encoder``); shipping them (``wct export-decoder``, ``wct export-encoder``).

    data.py        photos and paintings: splits, crops          losses.py      reconstruction, stylization term
    checkpoint.py  resumable safetensors checkpoints, logs      encoders.py    the encoder a decoder trains on
    decoder.py     TrainConfig, train_decoder                   distill.py     DistillConfig, distill_encoder
    export.py      float16 files + MANIFEST.json entries        options.py     command-line options from a config
"""

from .data import split_images
from .decoder import TrainConfig, evaluate, feature_scale, train_decoder
from .distill import DistillConfig, distill_encoder
from .export import export_decoder, export_student
from .losses import transferred
from .options import add_config_arguments, config_from_namespace

__all__ = ["TrainConfig", "train_decoder", "split_images", "feature_scale", "evaluate", "export_decoder", "export_student",
           "add_arguments", "config_from_args", "transferred", "DistillConfig", "distill_encoder"]  # fmt: skip

HELPS = {
    "level": "level to train (relu1_1..relu5_1)", "images": "folder of training photos",
    "out": "checkpoint folder (default: the user cache)", "steps": "total optimiser steps (the LR schedule spans them)",
    "model": "vgg16 (a VGG-16 decoder) or light (a decoder for the light model's distilled encoder)",
    "encoder": "with --model light: the student (an exported encoder file or a distillation checkpoint folder; "
               "default: the shipped one)",
    "styles": "folder of paintings: the stylization term's styles (a third of them, by name, is never trained on)",
    "max_minutes": "stop this run after so many minutes (resume with the same command)",
    "lower": "weights of the finished decoder one level down, grafted as this one's tail",
    "block_steps": "first steps train only the new head against the lower level's features",
    "feature_weight": "weight of the feature reconstruction loss at the same tap",
    "stylize": "weight of the stylization term: decode other crops' statistics transferred onto each crop (OST, "
               "alpha 0.5-1) back to those features and statistics; best.safetensors is then the latest evaluation",
    "ema": "keep an exponential moving average of the weights with this decay (e.g. 0.998) and evaluate/save it",
    "enlarge": "fraction of crops cut from a smaller region and enlarged bicubically by 1-1.6x (e.g. 0.5)",
    "bf16": "train under bfloat16 autocast (several times faster on CPUs with AMX or AVX512-BF16 and on recent GPUs; "
            "no faster elsewhere); weights, optimiser and evaluation stay float32",
    "deepen": "add a conv after each of these mirror convs (e.g. 0,1), identity-initialised when starting from --init-from",
}  # fmt: skip


def add_arguments(parser) -> None:
    """Add one --option per TrainConfig field to an argparse parser."""
    add_config_arguments(parser, TrainConfig, HELPS, ("level", "images"))


def config_from_args(args) -> TrainConfig:
    return config_from_namespace(TrainConfig, args)
