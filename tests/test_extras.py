"""A missing optional dependency names the extra (and torch's pinned CPU wheel) to install."""

import pytest

from rtpose.core.errors import MissingExtraError
from rtpose.core.extras import require


def test_missing_module_names_the_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"pip install 'rtpose\[basler\]'"):
        require("surely_not_installed_camera_sdk", "basler", "the Basler camera")


def test_missing_torch_hint_installs_the_cpu_wheel_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(MissingExtraError, match=r"torch==2\.13\.0 && pip install 'rtpose\[export\]'"):
        require("torch", "export", "training the demo model")
