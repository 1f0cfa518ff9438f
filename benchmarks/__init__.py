"""asv (airspeed velocity) suites of rnnbench: recurrent kernels and seq2seq decoding.

Run from the repository root; see benchmarks/README.md. Nothing here touches CUDA or builds
a model at import time: asv imports this package once in its forkserver and forks one
process per benchmark and parameter combination.
"""
