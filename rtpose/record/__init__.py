"""Recording a run to its run folder, and reading it back (see ``rtpose.record.layout``)."""

from __future__ import annotations

from rtpose.record.layout import RunFolderError
from rtpose.record.reader import read_events, read_frame_dtype, read_frames
from rtpose.record.recorder import Recorder

__all__ = ["Recorder", "RunFolderError", "read_events", "read_frame_dtype", "read_frames"]
