"""Results are plain data: reading, saving and plotting them imports neither torch nor the
model stack."""

from __future__ import annotations

import subprocess
import sys


def test_results_export_and_plotting_import_without_torch() -> None:
    code = ("import sys\n"
            "import deformviz.visualize.results, deformviz.visualize.export\n"
            "import deformviz.plotting.sampling, deformviz.plotting.rois\n"
            "heavy = [m for m in ('torch', 'deformviz.models', 'deformviz.probe', "
            "'deformviz.networks') if m in sys.modules]\n"
            "print(heavy)\n")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"
