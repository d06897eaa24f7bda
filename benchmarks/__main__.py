"""`python -m benchmarks`: the whole benchmark (see benchmarks/run.py)."""

from benchmarks.run import main

main()
