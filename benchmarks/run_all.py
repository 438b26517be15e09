"""Run every benchmark script in this folder, one after another."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The full 1e6-synapse comparison against plain PyMC takes 15-35 min; --quick times plain
# PyMC at 1e5 and extrapolates.
ARGS = {"bench_mixture.py": ["--quick"]}

for script in sorted(HERE.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, str(script), *ARGS.get(script.name, [])], check=False)
