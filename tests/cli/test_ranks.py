"""A `sample` batch under torchrun: 2 CPU processes share the images, each writes its own
outputs; together they write exactly what one process writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def test_sample_batch_is_shared_out_over_the_ranks(tmp_path, samples):
    processes = 2
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):  # three small inputs: quick on the bundled network at --size 128
        Image.open(samples / "chelsea.jpg").convert("RGB").resize((96 + 16 * index, 80)).save(
            folder / f"image_{index}.png")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    common = ["-m", "deformviz", "sample", str(folder), "--size", "128", "--dpi", "50", "-f", "png",
              "--save-data", "data"]
    job = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", str(processes), *common, "-o", "figures"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stderr
    written = sorted(line for line in job.stdout.splitlines() if line.strip())
    assert len(written) == len(set(written)) == 6  # each image's figure and data, once
    assert job.stderr.count("images done") == processes  # each rank its own summary
    assert "(rank 0 of 2): 2 of 2" in job.stderr and "(rank 1 of 2): 1 of 1" in job.stderr
    alone = subprocess.run([sys.executable, *common[:-1], "alone_data", "-o", "alone"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == \
        sorted(p.name for p in (tmp_path / "alone").iterdir())
    for path in (tmp_path / "data").iterdir():  # the same numbers as one process
        assert path.read_bytes() == (tmp_path / "alone_data" / path.name).read_bytes()
