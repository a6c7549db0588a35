"""Performance benchmarks for chatgpt_providers: ``python -m benchmarks`` (see run.py)."""
