"""python -m wct.train: train (or resume) one level's decoder; --export-to ships it afterwards."""

import argparse
import json
from pathlib import Path

from . import add_arguments, config_from_args, export_decoder, train_decoder

parser = argparse.ArgumentParser(prog="python -m wct.train", description="train one WCT decoder level")
add_arguments(parser)
parser.add_argument("--export-to", default="", help="after training, export best weights to this decoders folder")
args = parser.parse_args()
cfg = config_from_args(args)
folder = train_decoder(cfg)
if args.export_to:
    print(json.dumps(export_decoder(folder, cfg.level, Path(args.export_to), cfg.images)))
