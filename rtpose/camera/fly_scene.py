"""A synthetic two-fly arena with known poses: the ground truth behind the synthetic camera.

Two flies, a larger ``female`` and a smaller ``male``, dark on a bright back-lit background, as
seen from above. Trajectories are closed-form functions of time (seeded), so the pose of any
frame is known exactly and cheaply, for the camera and for tests:

- the female walks a rosette around the arena centre (always moving forward, heading = direction
  of motion);
- the male keeps ``free_distance_px`` from her, in front of her and facing her, and in scripted
  approach episodes (every ``approach_period_s``, lasting ``approach_duration_s``) swings round
  behind her and closes in until his head is a few pixels from her abdomen tip, then leaves.

Rendering works from the node positions alone (``render_flies``), so training data can use
random poses drawn by ``random_training_poses``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NODE_NAMES = ("head", "thorax", "abdomen", "wing_left", "wing_right")
EDGES = ((1, 0), (1, 2), (1, 3), (1, 4))
ANIMAL_NAMES = ("female", "male")
HEAD, THORAX, ABDOMEN, WING_LEFT, WING_RIGHT = range(5)

FEMALE_LENGTH_PX = 44.0
MALE_LENGTH_PX = 34.0
BACKGROUND_LEVEL = 205.0
NOISE_SIGMA = 4.0
_NOISE_BANK_SIZE = 8

# Node offsets along the body axis as fractions of body length (thorax at 0).
_HEAD_OFFSET = 0.20
_ABDOMEN_OFFSET = -0.50
_WING_LENGTH = 0.55
_WING_SPREAD_RAD = 0.42  # wings point backwards, this far out from the body axis

PosesArray = npt.NDArray[np.float32]


def fly_nodes(
    thorax_xy: tuple[float, float],
    heading_rad: float,
    length_px: float,
    wing_spread_rad: float = _WING_SPREAD_RAD,
) -> PosesArray:
    """Node positions (J×2, x y) of a fly with the given thorax, heading and body length."""
    x, y = thorax_xy
    forward = np.array([math.cos(heading_rad), math.sin(heading_rad)])
    nodes = np.empty((len(NODE_NAMES), 2), np.float64)
    nodes[THORAX] = (x, y)
    nodes[HEAD] = nodes[THORAX] + forward * _HEAD_OFFSET * length_px
    nodes[ABDOMEN] = nodes[THORAX] + forward * _ABDOMEN_OFFSET * length_px
    for node, side in ((WING_LEFT, -1.0), (WING_RIGHT, 1.0)):
        angle = heading_rad + math.pi + side * wing_spread_rad
        nodes[node] = nodes[THORAX] + _WING_LENGTH * length_px * np.array([math.cos(angle), math.sin(angle)])
    return nodes.astype(np.float32)


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _wrap_angle(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@dataclass(frozen=True)
class ApproachEpisode:
    """One scripted approach: the male is behind the female, fully close, from ``close_start_s``
    to ``close_end_s``; the whole manoeuvre spans ``start_s`` to ``end_s``."""

    start_s: float
    close_start_s: float
    close_end_s: float
    end_s: float


class FlyScene:
    """Deterministic two-fly trajectories and rendering for a frame size, seed and frame rate."""

    first_episode_s = 2.0
    free_distance_px = 64.0
    close_gap_px = 5.0  # male head to female abdomen tip when fully close

    def __init__(
        self,
        frame_size: tuple[int, int] = (256, 256),
        seed: int = 0,
        fps: float = 60.0,
        approach_period_s: float = 8.0,
        approach_duration_s: float = 4.0,
    ) -> None:
        self.height, self.width = frame_size
        self.fps = float(fps)
        self.approach_period_s = approach_period_s
        self.approach_duration_s = approach_duration_s
        rng = np.random.default_rng(seed)
        self._phases = rng.uniform(0.0, 2.0 * math.pi, size=8)
        self._centre = np.array([self.width / 2.0, self.height / 2.0])
        margin = 0.5 * FEMALE_LENGTH_PX + self.free_distance_px + 0.6 * MALE_LENGTH_PX
        self._female_radius_px = max(4.0, min(self.width, self.height) / 2.0 - margin)
        self._background = self._make_background(rng)
        self._noise_bank = rng.normal(
            0.0, NOISE_SIGMA, size=(_NOISE_BANK_SIZE, self.height, self.width)
        ).astype(np.float32)
        self._canvas = np.empty((self.height, self.width), np.float32)

    # --- trajectories -------------------------------------------------------------------
    def _female_position(self, t: float) -> npt.NDArray[np.float64]:
        p = self._phases
        theta = 0.8 * t + 0.3 * math.sin(0.7 * t + p[0]) + p[1]
        radius = self._female_radius_px * (0.65 + 0.35 * math.sin(3.0 * theta + p[2]))
        return self._centre + radius * np.array([math.cos(theta), math.sin(theta)])

    def _female_pose(self, t: float) -> tuple[npt.NDArray[np.float64], float]:
        position = self._female_position(t)
        ahead = self._female_position(t + 1e-3)
        heading = math.atan2(ahead[1] - position[1], ahead[0] - position[0])
        return position, heading

    def episode_at(self, t: float) -> ApproachEpisode | None:
        """The scripted episode in progress at time t (seconds), if any."""
        if t < self.first_episode_s:
            return None
        index = math.floor((t - self.first_episode_s) / self.approach_period_s)
        start = self.first_episode_s + index * self.approach_period_s
        if t >= start + self.approach_duration_s:
            return None
        return self._episode(start)

    def _episode(self, start: float) -> ApproachEpisode:
        duration = self.approach_duration_s
        swing, close = self._swing_s(), min(0.4, 0.15 * duration)
        return ApproachEpisode(
            start, start + swing + close, start + duration - swing - close, start + duration
        )

    def episodes_until(self, t_end: float) -> list[ApproachEpisode]:
        """Every scripted episode that starts before ``t_end`` seconds."""
        episodes = []
        start = self.first_episode_s
        while start < t_end:
            episodes.append(self._episode(start))
            start += self.approach_period_s
        return episodes

    def _swing_s(self) -> float:
        return min(0.7, 0.25 * self.approach_duration_s)

    def _male_relative(self, t: float) -> tuple[float, float, float]:
        """(bearing from the female's heading, distance, facing wobble weight) at time t."""
        p = self._phases
        free_bearing = 1.0 * math.sin(0.6 * t + p[3])
        distance, bearing, wobble = self.free_distance_px, free_bearing, 1.0
        episode = self.episode_at(t)
        if episode is not None:
            close_distance = (
                -_ABDOMEN_OFFSET * FEMALE_LENGTH_PX + self.close_gap_px + _HEAD_OFFSET * MALE_LENGTH_PX
            )
            swing = self._swing_s()
            if t < episode.close_start_s:
                w_bearing = _smoothstep((t - episode.start_s) / swing)
                w_distance = _smoothstep(
                    (t - episode.start_s - swing) / (episode.close_start_s - episode.start_s - swing)
                )
            elif t <= episode.close_end_s:
                w_bearing = w_distance = 1.0
            else:
                w_distance = 1.0 - _smoothstep(
                    (t - episode.close_end_s) / (episode.end_s - episode.close_end_s - swing)
                )
                w_bearing = 1.0 - _smoothstep((t - episode.end_s + swing) / swing)
            # swing round to the rear on the side the male is already on
            rear = math.pi if free_bearing >= 0 else -math.pi
            bearing = free_bearing + w_bearing * (rear - free_bearing)
            distance = self.free_distance_px + w_distance * (close_distance - self.free_distance_px)
            wobble = 1.0 - w_bearing
        return bearing, distance, wobble

    def poses_at(self, t: float) -> PosesArray:
        """Ground-truth poses at time t: (2, J, 2) float32, animals in ``ANIMAL_NAMES`` order."""
        female_xy, female_heading = self._female_pose(t)
        bearing, distance, wobble = self._male_relative(t)
        direction = female_heading + bearing
        male_xy = female_xy + distance * np.array([math.cos(direction), math.sin(direction)])
        facing = math.atan2(female_xy[1] - male_xy[1], female_xy[0] - male_xy[0])
        male_heading = facing + wobble * 0.35 * math.sin(1.3 * t + self._phases[4])
        poses = np.empty((2, len(NODE_NAMES), 2), np.float32)
        poses[0] = fly_nodes((female_xy[0], female_xy[1]), female_heading, FEMALE_LENGTH_PX)
        poses[1] = fly_nodes((male_xy[0], male_xy[1]), male_heading, MALE_LENGTH_PX)
        return poses

    def poses_at_frame(self, frame_id: int) -> PosesArray:
        return self.poses_at(frame_id / self.fps)

    # --- rendering ----------------------------------------------------------------------
    def _make_background(self, rng: np.random.Generator) -> npt.NDArray[np.float32]:
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        r2 = ((xs - self.width / 2) ** 2 + (ys - self.height / 2) ** 2) / (
            0.5 * max(self.width, self.height)
        ) ** 2
        noisy = BACKGROUND_LEVEL - 20.0 * r2 + rng.normal(0.0, 2.0, size=(self.height, self.width))
        background: npt.NDArray[np.float32] = noisy.astype(np.float32)
        return background

    def render_frame(self, frame_id: int, out: npt.NDArray[np.uint8]) -> None:
        """Render frame ``frame_id`` into ``out`` (H×W×1 uint8), without allocating a frame."""
        noise = self._noise_bank[frame_id % _NOISE_BANK_SIZE]
        _render(self.poses_at_frame(frame_id), self._background, noise, self._canvas, out)


def render_flies(
    poses: PosesArray, out: npt.NDArray[np.uint8], rng: np.random.Generator | None = None
) -> None:
    """Draw flies with the given node positions (A×J×2) into ``out`` (H×W×1 uint8).

    The background and noise come from ``rng`` (a fresh arena each call) or, with None, a fixed
    default arena. Used to make training frames from ``random_training_poses``.
    """
    height, width = out.shape[:2]
    rng = rng if rng is not None else np.random.default_rng(0)
    scene = FlyScene((height, width), seed=int(rng.integers(1 << 31)))
    noise = rng.normal(0.0, NOISE_SIGMA, size=(height, width)).astype(np.float32)
    level = rng.uniform(-25.0, 25.0)
    _render(poses, scene._background + level, noise, scene._canvas, out)


def _render(
    poses: PosesArray,
    background: npt.NDArray[np.float32],
    noise: npt.NDArray[np.float32],
    canvas: npt.NDArray[np.float32],
    out: npt.NDArray[np.uint8],
) -> None:
    np.copyto(canvas, background)
    for nodes in poses:
        _draw_fly(canvas, nodes)
    canvas += noise
    np.clip(canvas, 0.0, 255.0, out=canvas)
    np.copyto(out[..., 0], canvas, casting="unsafe")


def _draw_fly(canvas: npt.NDArray[np.float32], nodes: PosesArray) -> None:
    thorax, head, abdomen = nodes[THORAX], nodes[HEAD], nodes[ABDOMEN]
    axis = head - thorax
    head_distance = float(np.hypot(*axis)) or 1.0
    length = head_distance / _HEAD_OFFSET
    heading = math.atan2(float(axis[1]), float(axis[0]))
    for wing in (nodes[WING_LEFT], nodes[WING_RIGHT]):
        vector = wing - thorax
        wing_length = float(np.hypot(*vector))
        centre = thorax + 0.5 * vector
        _blend_ellipse(
            canvas,
            centre,
            0.5 * wing_length,
            0.07 * length,
            math.atan2(float(vector[1]), float(vector[0])),
            level=None,
            opacity=0.35,
        )
    tail = abdomen - thorax
    abdomen_length = float(np.hypot(*tail))
    _blend_ellipse(
        canvas,
        thorax + 0.52 * tail,
        0.5 * abdomen_length,
        0.15 * length,
        math.atan2(float(tail[1]), float(tail[0])),
        level=55.0,
        opacity=1.0,
    )
    _blend_ellipse(canvas, thorax, 0.14 * length, 0.12 * length, heading, level=35.0, opacity=1.0)
    _blend_ellipse(canvas, head, 0.08 * length, 0.11 * length, heading, level=80.0, opacity=1.0)


def _blend_ellipse(
    canvas: npt.NDArray[np.float32],
    centre: npt.NDArray[np.float32],
    semi_major: float,
    semi_minor: float,
    angle: float,
    level: float | None,
    opacity: float,
) -> None:
    """Blend an anti-aliased ellipse into ``canvas``; ``level`` None darkens what is under it."""
    height, width = canvas.shape
    reach = semi_major + 2.0
    x0, x1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 2, width)
    y0, y1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.ogrid[y0:y1, x0:x1]
    dx, dy = xs - float(centre[0]), ys - float(centre[1])
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    along = (dx * cos_a + dy * sin_a) / semi_major
    across = (-dx * sin_a + dy * cos_a) / semi_minor
    radius = np.sqrt(along * along + across * across)
    coverage = np.clip((1.0 - radius) * semi_minor + 0.5, 0.0, 1.0) * opacity
    region = canvas[y0:y1, x0:x1]
    if level is None:
        region *= 1.0 - coverage
    else:
        region += coverage * (level - region)


def random_training_poses(rng: np.random.Generator, frame_size: tuple[int, int]) -> PosesArray:
    """Random two-fly poses for training: anywhere in the frame, half of them in close encounters.

    Body lengths vary ±6 % and wing spread ±0.15 rad around the scene's flies, so a model trained
    on these generalises to the scene's trajectories.
    """
    height, width = frame_size
    margin = 0.6 * FEMALE_LENGTH_PX
    while True:
        female_length = FEMALE_LENGTH_PX * rng.uniform(0.94, 1.06)
        male_length = MALE_LENGTH_PX * rng.uniform(0.94, 1.06)
        female_xy = rng.uniform([margin, margin], [width - margin, height - margin])
        female_heading = rng.uniform(-math.pi, math.pi)
        if rng.random() < 0.5:
            bearing = math.pi + rng.uniform(-0.7, 0.7)
            distance = rng.uniform(0.5 * female_length + 0.2 * male_length + 2.0, 70.0)
            direction = female_heading + bearing
            male_xy = female_xy + distance * np.array([math.cos(direction), math.sin(direction)])
            male_heading = math.atan2(*(female_xy - male_xy)[::-1]) + rng.uniform(-0.5, 0.5)
        else:
            male_xy = rng.uniform([margin, margin], [width - margin, height - margin])
            male_heading = rng.uniform(-math.pi, math.pi)
            if np.hypot(*(male_xy - female_xy)) < 0.5 * (female_length + male_length) + 4.0:
                continue
        if not (margin <= male_xy[0] <= width - margin and margin <= male_xy[1] <= height - margin):
            continue
        poses = np.empty((2, len(NODE_NAMES), 2), np.float32)
        poses[0] = fly_nodes(
            tuple(female_xy), female_heading, female_length, _WING_SPREAD_RAD + rng.uniform(-0.15, 0.15)
        )
        poses[1] = fly_nodes(
            tuple(male_xy), male_heading, male_length, _WING_SPREAD_RAD + rng.uniform(-0.15, 0.15)
        )
        return poses
