"""Benchmarks (not tests): ``python -m tests.bench [NAME …]`` or ``tox -e bench``.

Each benchmark prints a table and writes its figures to ``bench-results/NAME.json``.
"""
