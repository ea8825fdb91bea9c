"""Soak at full size: 1,000 sessions opened, trained and dropped mid-stream; afterwards tasks,
threads, open files and memory must be back to baseline (tests/app/test_soak.py, which the
suite runs with 100).

    python bench/soak.py [--sessions 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    env = {**os.environ, "TORCHPLAY_SOAK_SESSIONS": str(args.sessions)}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
               "tests/app/test_soak.py"]
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))


if __name__ == "__main__":
    main()
