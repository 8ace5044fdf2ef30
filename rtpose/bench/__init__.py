"""Measurements a rig engineer runs from the CLI (``rtpose bench ...``)."""
