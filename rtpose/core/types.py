"""Frame and pose types that cross stage boundaries.

Conventions (the same everywhere in rtpose and on the wire):
- Coordinates are (x, y) in full-frame pixels, pixel centres at integer coordinates (as in SLEAP).
- ``K`` is the number of instance slots (the model's max instances, fixed), ``J`` the number of
  nodes. Slots are filled in descending instance score; an empty slot has ``valid = False`` and
  NaN points. A node that was not found is NaN with score 0.
- Images are uint8, H×W×C (C = 1 for grayscale), C-contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int16]
ImageArray = npt.NDArray[np.uint8]

NO_IDENTITY = -1


@dataclass(slots=True)
class Poses:
    """The poses found in one frame.

    Attributes:
        points: K×J×2 float32, (x, y) frame pixels; NaN where missing.
        point_scores: K×J float32, confidence-map peak values (0 for a node not found).
        instance_scores: K float32, the centroid-map value of each instance (0 for empty slots).
        valid: K bool, which slots hold an instance.
        centroids: K×2 float32, the anchor point each instance was cropped around.
        identities: K int16, the identity index (into the rig's animal names) of each slot,
            ``NO_IDENTITY`` (-1) until the identity stage assigns one.
        class_probs: K×C float32 for top-down ID models, else None.
    """

    points: FloatArray
    point_scores: FloatArray
    instance_scores: FloatArray
    valid: BoolArray
    centroids: FloatArray
    identities: IntArray = field(default_factory=lambda: np.zeros(0, np.int16))
    class_probs: FloatArray | None = None

    def __post_init__(self) -> None:
        if self.identities.shape != self.valid.shape:
            self.identities = np.full(self.valid.shape, NO_IDENTITY, np.int16)

    @property
    def max_instances(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_nodes(self) -> int:
        return int(self.points.shape[1])

    @classmethod
    def empty(cls, max_instances: int, num_nodes: int) -> Poses:
        """Poses with every slot empty (points NaN, scores 0, invalid)."""
        return cls(
            points=np.full((max_instances, num_nodes, 2), np.nan, np.float32),
            point_scores=np.zeros((max_instances, num_nodes), np.float32),
            instance_scores=np.zeros(max_instances, np.float32),
            valid=np.zeros(max_instances, np.bool_),
            centroids=np.full((max_instances, 2), np.nan, np.float32),
        )


@dataclass(slots=True)
class FrameTimestamps:
    """Host timestamps of one frame's passage, from ``rtpose.core.clock.now_ns`` (0 = not reached)."""

    grab_ns: int = 0
    engine_start_ns: int = 0
    engine_end_ns: int = 0
    rules_end_ns: int = 0
    daq_write_ns: int = 0


@dataclass(slots=True)
class GrabbedFrame:
    """A frame as the grab thread hands it to the loop.

    ``image`` belongs to the frame ring: it stays valid until the loop releases the slot, and the
    loop must not keep references to it after that.
    """

    frame_id: int
    image: ImageArray
    grab_ns: int
    camera_timestamp_ns: int | None = None
