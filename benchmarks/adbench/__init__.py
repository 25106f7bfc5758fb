"""The standard AD benchmark programs (GradBench/ADBench) as plain NumPy: `python -m benchmarks.adbench`."""
