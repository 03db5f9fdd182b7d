"""`python -m deformviz.training RUN_DIR [--plain] [--epochs N]`: the training command without the
command-line app (the app's `deformviz train` calls the same function)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .trainer import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--plain", action="store_true", help="train the twin with offsets frozen at zero")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--scenes", type=int, default=TrainConfig.train_scenes)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--image-size", type=int, default=TrainConfig.image_size)
    parser.add_argument("--offset-lr-scale", type=float, default=TrainConfig.offset_lr_scale)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config = TrainConfig(seed=args.seed, train_scenes=args.scenes, epochs=args.epochs,
                         deformable=not args.plain, image_size=args.image_size,
                         offset_lr_scale=args.offset_lr_scale)
    train(config, args.run_dir, device=args.device, cache_path=args.cache)


if __name__ == "__main__":
    main()
