"""The benchmark and evaluation scripts, each run as a module from the repo root
(`python -m benchmarks.evaluate --help`); `python -m benchmarks --list` gives the order in which
they feed one another."""
