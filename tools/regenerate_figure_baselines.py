"""Regenerate the PNG baselines of tests/plotting from the deterministic test model.

Run from the repository root after an intended change to the look of the figures, look at
the PNGs, and commit them:

    python tools/regenerate_figure_baselines.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from deformviz.plotting import save_figure  # noqa: E402
from tests.model_factory import build_test_model, export_test_model, load_test_model  # noqa: E402,F401
from tests.plotting.baseline_cases import BASELINES, CASES, DPI  # noqa: E402


def main() -> None:
    import tempfile

    torch.set_num_threads(1)  # the tests run single-threaded too
    with tempfile.TemporaryDirectory() as folder:
        # Through an exported file, exactly as the tests load it (float16-rounded weights).
        model = load_test_model(export_test_model(Path(folder) / "test-model.pt"))
    BASELINES.mkdir(parents=True, exist_ok=True)
    for name, build in CASES.items():
        path = save_figure(build(model), BASELINES / f"{name}.png", dpi=DPI)
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
