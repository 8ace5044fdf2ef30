"""Core layer: frame and pose types, the process clock, errors and config models.

Everything else in rtpose may import from here; this package imports nothing from the rest.
"""
