"""Benchmarks: `python -m bench` compares the service with the Demucs CLI and the bare model."""
