"""rnnbench: a benchmark and reproducibility suite for recurrent neural networks."""

__version__ = "0.1.0"
