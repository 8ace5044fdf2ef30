"""Records the raw camera frames to a lossless video, off the hot loop: ``record.video = true``.

Codec: FFV1 (lossless, intra-only: every frame decodes on its own, so a file cut short by a
killed process still decodes up to where it stops) in Matroska (``video.mkv``), gray for 1-channel
frames, 8-bit RGB (stored as bgr0) for 3-channel ones. PyAV's wheels bundle FFmpeg with FFV1
(``rtpose[video]``).

Threading, processes and buffers: ``offer`` is called by the grab thread right after it has handed
a frame to the loop (the grab thread is the only writer of ring buffers, so the frame cannot change
while it is copied, and the loop does not wait for the copy). It copies the frame into one of
``queue_frames`` slots of shared memory allocated at start and sends the slot number to the
encoder, a child process (``rtpose.record.video_encoder``: FFmpeg holds the GIL while it encodes,
which in a thread would stall the loop). When every slot is waiting for the encoder, the frame is
left out of the video and counted (``dropped``), never waited for. The encoder appends each
frame's camera id to the sidecar (``video_frame_ids.bin``, little-endian uint64 per video frame),
so video frame ``i`` is frame id ``sidecar[i]`` whatever was dropped. Packets and sidecar entries
reach the OS as they are written; if this process is killed, the encoder sees its input close,
encodes what it was sent and finishes the file.

Memory: ``queue_frames`` × frame size of shared memory (``/dev/shm`` on Linux: containers with a
small ``--shm-size`` need it raised for large frames), named ``rtpose-<pid>-<random>`` after the
process that owns it. ``close`` releases it on every path. If the rig process is killed, Python's
resource tracker (a helper process) unlinks it; if the tracker dies too (the whole process group
or cgroup killed), the block stays (the encoder, in its own session, finishes the file but never
unlinks). On Linux each new ``VideoRecorder`` removes such stale blocks: ours (same user), whose
owner pid no longer exists, and older than a minute (``sweep_stale_memory``). Elsewhere a stale
block is freed at reboot (macOS) or when its last handle closes (Windows).

Windows: the request pipe holds ~4 KiB, about 340 queued frames, beyond which ``offer`` could
block; the config (``record.video_queue_frames``) refuses more there.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing import shared_memory
from pathlib import Path
from typing import IO, Any

import numpy as np

import rtpose
from rtpose.core.extras import require
from rtpose.core.types import ImageArray
from rtpose.record.layout import video_frame_ids_path
from rtpose.record.video_encoder import CODEC, DONE, READY, REPLY, REQUEST, STOP


class VideoRecorder:
    """Hands frames offered by the grab thread to the encoder process (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        frame_shape: tuple[int, int, int],
        fps: float | None,
        queue_frames: int = 64,
        start_timeout_s: float = 60.0,
    ) -> None:
        require("av", "video", "Video recording (record.video)")
        if frame_shape[2] not in (1, 3):
            raise ValueError(f"video recording takes 1- or 3-channel frames, not {frame_shape[2]}")
        self.path = Path(path)
        for existing in (self.path, video_frame_ids_path(self.path)):
            if existing.exists():
                raise FileExistsError(f"{existing} already exists; record each run into a new folder")
        self.frame_shape = frame_shape
        self.frames_written = 0
        self.dropped = 0
        """Frames offered but left out of the video: no free slot (the encoder fell behind), or
        the encoder had failed."""
        self.error: BaseException | None = None
        self._closed = False
        self._final: dict[str, Any] | None = None
        self._ready = threading.Event()
        sweep_stale_memory()
        self._memory = _create_memory(math.prod(frame_shape) * queue_frames)
        self._buffers: np.ndarray | None = np.ndarray(
            (queue_frames, *frame_shape), np.uint8, buffer=self._memory.buf
        )
        self._buffers.fill(0)  # touch every page now, not on the grab thread's first copies
        self._free: deque[int] = deque(range(queue_frames))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "rtpose.record.video_encoder"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                env=_child_environment(),
                **_own_process_group(),
            )
        except OSError:
            self._release_memory()
            raise
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests: IO[bytes] = self._process.stdin
        self._reader = threading.Thread(
            target=self._read_replies, args=(self._process.stdout,), name="rtpose-video", daemon=True
        )
        self._reader.start()
        settings = {
            "path": str(self.path.resolve()),
            "shape": list(frame_shape),
            "fps": fps,
            "slots": queue_frames,
            "memory": self._memory.name,
        }
        self._requests.write(json.dumps(settings).encode() + b"\n")
        if not self._ready.wait(start_timeout_s) or self._final is not None:
            final: dict[str, Any] = self._final or {}
            problem = final.get("error") or f"no answer within {start_timeout_s} s"
            self._abandon()
            raise RuntimeError(f"the video encoder could not start writing {self.path}: {problem}")

    def offer(self, frame_id: int, image: ImageArray) -> None:
        """Grab thread: copy ``image`` for the video, or count it dropped. Never waits or raises."""
        try:
            slot = self._free.popleft()
        except IndexError:
            self.dropped += 1
            return
        assert self._buffers is not None
        np.copyto(self._buffers[slot], image.reshape(self.frame_shape))
        try:
            self._requests.write(REQUEST.pack(slot, frame_id))
        except (OSError, ValueError):  # the encoder died: counted, reported at close
            self.dropped += 1

    def _read_replies(self, replies: IO[bytes]) -> None:
        while True:
            header = _read_exactly(replies, REPLY.size)
            if header is None:
                break
            code, length = REPLY.unpack(header)
            body = _read_exactly(replies, length) if length else b""
            if code >= 0:
                self._free.append(code)
            elif code == READY:
                self._ready.set()
            elif code == DONE:
                self._final = json.loads(body or b"{}")
                break
        replies.close()
        self._ready.set()

    def close(self, timeout_s: float = 60.0) -> None:
        """Encode what was sent and finish the file; raises the encoder's error, if any. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._requests.write(REQUEST.pack(STOP, 0))
            self._requests.close()
        except (OSError, ValueError):
            pass
        self._reader.join(timeout_s)
        if self._reader.is_alive():
            self._abandon()
            self.error = TimeoutError(f"the video encoder did not finish {self.path} within {timeout_s} s")
        else:
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:  # it reported, then hung on its way out
                self._process.kill()
                self._process.wait()
            finally:
                self._release_memory()
            final = self._final or {}
            self.frames_written = int(final.get("frames_written", 0))
            self.dropped += int(final.get("failed", 0))
            if self._final is None:
                self.error = RuntimeError(
                    f"the video encoder exited ({self._process.returncode}) without a report"
                )
            elif final.get("error"):
                self.error = RuntimeError(f"video encoder: {final['error']}")
        if self.error is not None:
            raise self.error

    def _abandon(self) -> None:
        self._closed = True
        try:
            with contextlib.suppress(OSError, ValueError):
                self._requests.close()
            self._process.kill()
            self._process.wait()
            self._reader.join(5.0)
        finally:
            self._release_memory()

    def _release_memory(self) -> None:
        self._buffers = None
        self._memory.close()
        with contextlib.suppress(FileNotFoundError):
            self._memory.unlink()

    def stats(self) -> dict[str, Any]:
        """For the summary: where the video is, frames in it, frames left out, any error."""
        return {
            "path": self.path.name,
            "codec": CODEC,
            "frames_written": self.frames_written,
            "dropped": self.dropped,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }


MEMORY_PREFIX = "rtpose-"
_MEMORY_NAME = re.compile(r"rtpose-(\d+)-[0-9a-f]{8}")
_SHM_DIR = Path("/dev/shm")
STALE_AFTER_S = 60.0
"""A block is swept only when older than this: a process in another pid namespace sharing
``/dev/shm`` looks gone to us, and its encoder attaches by name within seconds of the start."""


def _create_memory(size: int) -> shared_memory.SharedMemory:
    """A new block named ``rtpose-<pid>-<8 hex>`` (30 characters at most: macOS's limit is 31)."""
    while True:
        try:
            name = f"{MEMORY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
            return shared_memory.SharedMemory(name=name, create=True, size=size)
        except FileExistsError:
            continue


def sweep_stale_memory(shm_dir: Path = _SHM_DIR) -> list[str]:
    """Linux: unlink blocks left by killed rig processes (see the module docstring); their names.

    Unlinking removes only the name: a process that still maps the block keeps its memory.
    """
    if not sys.platform.startswith("linux") or not shm_dir.is_dir():
        return []
    removed = []
    for path in shm_dir.glob(f"{MEMORY_PREFIX}*"):
        match = _MEMORY_NAME.fullmatch(path.name)
        if match is None or _process_exists(int(match.group(1))):
            continue
        try:
            info = path.stat()
            if info.st_uid != os.getuid() or time.time() - info.st_mtime < STALE_AFTER_S:
                continue
            path.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours to remove
        removed.append(path.name)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _own_process_group() -> dict[str, Any]:
    """Keep the console's Ctrl-C / Ctrl-Break (sent to the whole group) away from the encoder: the
    rig process stops it through its pipe, after the last frame, on every exit path."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _child_environment() -> dict[str, str]:
    """The encoder imports this same rtpose, installed or run from a source tree."""
    source_root = str(Path(rtpose.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}
