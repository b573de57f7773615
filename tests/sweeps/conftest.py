"""Fixtures of the sweep tests (defined in ``sweeptools``)."""

from sweeptools import objective_dir, reader_factory

__all__ = ["objective_dir", "reader_factory"]
