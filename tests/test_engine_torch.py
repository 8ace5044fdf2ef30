"""The torch backend's program loading and set-up errors, on the CPU.

fp16 on a GPU runs the exported program under autocast. torch.export records every ``.to(dtype)``
with an ``aten._assert_tensor_metadata`` check of its input's dtype (float32 at export), which
autocast's half-precision convolutions fail: CPU bfloat16 autocast shows the same failure without
a GPU, so these tests guard fp16 loading where no GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.core.errors import EngineError
from rtpose.engine import DEMO_MODEL_DIR, load
from rtpose.engine import torch as torch_backend

torch = pytest.importorskip("torch")

FRAME = torch.zeros((256, 256, 1), dtype=torch.uint8)
CENTROIDS = torch.tensor([[100.0, 120.0], [float("nan"), float("nan")]])
PROGRAMS = [("model.pt2", (FRAME,)), ("instance.pt2", (FRAME, CENTROIDS))]


@pytest.mark.parametrize(("program", "inputs"), PROGRAMS, ids=["full", "instance"])
def test_loaded_programs_run_under_autocast(program: str, inputs: tuple[object, ...]) -> None:
    module = torch_backend.load_program(torch, DEMO_MODEL_DIR / program, torch.device("cpu"))
    checks = torch.ops.aten._assert_tensor_metadata.default
    assert not [node for node in module.graph.nodes if node.target is checks]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = module(*inputs)  # the unmodified program raises "Tensor dtype mismatch" here
    assert outputs[0].dtype == torch.float32  # the decode's casts are kept


def test_removing_the_checks_does_not_change_fp32_results() -> None:
    from rtpose.camera.fly_scene import FlyScene

    image = np.empty((256, 256, 1), np.uint8)
    FlyScene(frame_size=(256, 256), seed=5, fps=30.0).render_frame(40, image)
    frame = torch.from_numpy(image)
    exported = torch.export.load(str(DEMO_MODEL_DIR / "model.pt2")).module()
    loaded = torch_backend.load_program(torch, DEMO_MODEL_DIR / "model.pt2", torch.device("cpu"))
    with torch.inference_mode():
        for expected, got in zip(exported(frame), loaded(frame), strict=True):
            torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


def test_a_failure_while_setting_up_the_runner_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*args: object) -> None:
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(torch_backend._Runner, "__init__", fails)
    with pytest.raises(
        EngineError, match=r"torch cannot run the full graph on cpu \(fp32\): CUDA error: out"
    ):
        load("demo", "torch")
