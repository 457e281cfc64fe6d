"""The STK tests use the shared ``simulator``, ``plugin`` and ``kit`` fixtures (tests/conftest.py)."""
