"""Identity: which instance slot is which named animal."""

from rtpose.identity.size import SizeIdentity

__all__ = ["SizeIdentity"]
