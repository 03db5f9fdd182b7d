"""Ctrl-C a real `deformviz stats` run part way, resume it, and compare with an uninterrupted run.

Runs the command three times in a scratch folder: once straight through (timed), once
interrupted with SIGINT after a fraction of that time (STATS_INTERRUPT_AT, default 0.4), then
the same command again, which must continue from the saved state and write a file
byte-identical to the uninterrupted one.

Usage: python tools/check_stats_interrupt.py IMAGES ANNOTATIONS [extra stats options...]
  e.g. python tools/check_stats_interrupt.py scenes/ scenes/instances.json --size 384 --workers 1
"""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _default_sigint() -> None:
    # A child of a background job inherits an ignored SIGINT; give it Python's handler back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    images, annotations, extra = str(Path(sys.argv[1]).resolve()), str(Path(sys.argv[2]).resolve()), sys.argv[3:]
    fraction = float(os.environ.get("STATS_INTERRUPT_AT", "0.4"))
    command = [sys.executable, "-m", "deformviz", "stats", images, "-a", annotations, *extra]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.perf_counter()
        subprocess.run(command + ["-o", "full.json"], cwd=folder, check=True, capture_output=True,
                       preexec_fn=_default_sigint)
        straight = time.perf_counter() - started
        process = subprocess.Popen(command + ["-o", "part.json", "--checkpoint-every", "100000"],
                                   cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, preexec_fn=_default_sigint)
        time.sleep(fraction * straight)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate()
        state = folder / "part.partial.json"
        saved = len(json.loads(state.read_text())["exact"]["finished"]) if state.exists() else 0
        print(f"uninterrupted run: {straight:.0f} s; Ctrl-C at {fraction:.0%}: exit code {process.returncode}, "
              f"{saved} images saved in the state")
        print("stderr:", " | ".join(line for line in errors.splitlines() if line.strip()))
        resumed = subprocess.run(command + ["-o", "part.json"], cwd=folder, capture_output=True,
                                 text=True, preexec_fn=_default_sigint)
        print("resumed:", resumed.stdout.splitlines()[0] if resumed.stdout else resumed.stderr.strip())
        same = filecmp.cmp(folder / "full.json", folder / "part.json", shallow=False)
        print(f"resumed result byte-identical to the uninterrupted one: {same}; state removed: "
              f"{not state.exists()}")
        sys.exit(0 if same and process.returncode == 130 and saved > 0 else 1)


if __name__ == "__main__":
    main()
