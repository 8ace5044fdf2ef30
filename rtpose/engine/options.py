"""Settings every backend reads, and how ``backend = "auto"`` picks one.

Plain data, no heavy imports: the rig config (``[model]``) is turned into ``EngineOptions`` once,
at start-up. ``choose_backend("auto")`` looks for a GPU without importing torch or TensorRT
unless a GPU's driver is there, so that ``rtpose demo`` on a CPU machine stays fast to start.
The driver is found by its files: ``/proc/driver/nvidia/version`` on Linux,
``/usr/lib/wsl/lib/libcuda.so*`` under WSL2 (no /proc entry there), ``nvcuda.dll`` on Windows.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rtpose.core.config import ModelConfig
from rtpose.core.errors import EngineError

BACKENDS = ("onnxruntime", "torch", "tensorrt")
BACKEND_CHOICES = ("auto", *BACKENDS)
PRECISIONS = ("fp32", "fp16")
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")  # Linux with NVIDIA's kernel driver
WSL_DRIVER_DIR = Path("/usr/lib/wsl/lib")  # WSL2: the Windows driver's libcuda.so* is mounted here
WINDOWS_DRIVER_DLL = "nvcuda.dll"  # the CUDA driver NVIDIA's Windows driver puts in System32
# cuda-python's runtime module: cuda.bindings.runtime from 12.6, cuda.cudart before. A bare
# "cuda" package says nothing: other distributions use that namespace too.
CUDA_PYTHON_MODULES = ("cuda.bindings.runtime", "cuda.cudart")
# TensorRT and cuda-python are built per CUDA major version; the driver decides which (docs/gpu.md).


def gpu_reinstall_hint(driver_major: int, installed_major: int) -> str:
    """The commands that replace GPU wheels built for CUDA ``installed_major`` with those for the
    driver's CUDA ``driver_major``."""
    return (
        f"pip uninstall -y cuda-python cuda-bindings tensorrt-cu{installed_major} && "
        f"pip install 'rtpose[gpu-cu{driver_major}]'"
    )


GPU_INSTALL_HINT = (
    "pip install 'rtpose[gpu-cu13]' for a CUDA 13 driver, or 'rtpose[gpu-cu12]' for CUDA 12 "
    "(nvidia-smi shows the driver's CUDA version)"
)


@dataclass(frozen=True)
class FastModeOptions:
    """Fast mode (off by default): see rtpose/engine/fast_mode.py."""

    enabled: bool = False
    refresh_every_frames: int = 10
    min_instance_score: float = 0.3


@dataclass(frozen=True)
class EngineOptions:
    """What a backend may be told besides the package.

    ``threads``: intra-op threads of CPU backends (ONNX Runtime, torch on the CPU).
    ``precision``: "fp16" uses the package's fp16 graph (TensorRT, strongly typed) or autocast
    (torch on a GPU); CPU backends refuse it. ``cuda_graph``: capture the GPU work of a frame once
    and replay it (TensorRT, torch on a GPU). ``providers``: ONNX Runtime execution providers by
    short name (cpu, cuda, tensorrt), in order of preference; empty = by availability (CUDA if
    present, then CPU). ``spinning``: let ONNX Runtime's worker threads spin while idle (lower
    wake-up latency, a busy core each). ``plan_cache_dir``: where TensorRT plans are cached (None:
    ``~/.cache/rtpose/tensorrt``). ``device``: the CUDA device index.
    """

    threads: int = 1
    precision: str = "fp32"
    cuda_graph: bool = True
    providers: tuple[str, ...] = ()
    spinning: bool = False
    plan_cache_dir: Path | None = None
    device: int = 0
    fast_mode: FastModeOptions = field(default_factory=FastModeOptions)

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise EngineError(f"threads must be at least 1, got {self.threads}")
        if self.precision not in PRECISIONS:
            raise EngineError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        unknown = [name for name in self.providers if name not in ORT_PROVIDERS]
        if unknown:
            raise EngineError(
                f"unknown ONNX Runtime providers {unknown}; use some of {sorted(ORT_PROVIDERS)}"
            )
        if self.fast_mode.refresh_every_frames < 1:
            raise EngineError("fast_mode.refresh_every_frames must be at least 1")


def gpu_driver_present(platform: str | None = None) -> bool:
    """Whether an NVIDIA driver is installed (cheap: no CUDA import). ``platform``: as
    ``sys.platform`` (default: this machine's)."""
    if (platform or sys.platform) == "win32":
        return windows_driver_present()
    if NVIDIA_DRIVER_FILE.exists():
        return True
    try:
        return any(WSL_DRIVER_DIR.glob("libcuda.so*"))
    except OSError:
        return False


def windows_driver_present() -> bool:
    """Whether Windows has NVIDIA's CUDA driver (``nvcuda.dll`` in System32 or on the DLL path)."""
    system_root = os.environ.get("SYSTEMROOT", r"C:\Windows")  # Windows: names are case-blind
    if (Path(system_root) / "System32" / WINDOWS_DRIVER_DLL).is_file():
        return True
    import ctypes.util  # only here: it pulls in subprocess and friends

    return ctypes.util.find_library(Path(WINDOWS_DRIVER_DLL).stem) is not None


def cuda_python_available() -> bool:
    """Whether cuda-python's runtime module (which the tensorrt backend calls) is installed."""
    return any(module_available(name) for name in CUDA_PYTHON_MODULES)


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def choose_backend(backend: str) -> str:
    """The backend to use for ``backend`` ("auto": TensorRT if it and a GPU are there, else torch
    on a CUDA GPU, else ONNX Runtime)."""
    return explain_backend_choice(backend)[0]


def explain_backend_choice(backend: str) -> tuple[str, str]:
    """(the backend to use for ``backend``, why: the words ``rtpose backends`` prints)."""
    if backend not in BACKEND_CHOICES:
        raise EngineError(f"unknown engine backend {backend!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    if backend != "auto":
        return backend, "named in the config"
    if not gpu_driver_present():
        return "onnxruntime", "no NVIDIA driver: ONNX Runtime on the CPU"
    tensorrt, cuda_python = module_available("tensorrt"), cuda_python_available()
    if tensorrt and cuda_python:
        return "tensorrt", "a driver, TensorRT and cuda-python are present"
    if module_available("torch"):
        import torch

        if torch.cuda.is_available():
            return "torch", "TensorRT or cuda-python is missing, and torch sees a CUDA GPU"
    missing = [name for name, found in (("TensorRT", tensorrt), ("cuda-python", cuda_python)) if not found]
    why = f"{' and '.join(missing)} not installed" if missing else "torch sees no CUDA GPU"
    return "onnxruntime", f"a driver is present but {why}: ONNX Runtime"


def engine_options(model: ModelConfig, config_dir: Path | None = None) -> EngineOptions:
    """EngineOptions from the rig config's ``[model]`` section (paths relative to ``config_dir``)."""
    plan_cache = None
    if model.plan_cache is not None:
        plan_cache = Path(model.plan_cache).expanduser()
        if not plan_cache.is_absolute() and config_dir is not None:
            plan_cache = Path(config_dir) / plan_cache
    fast = model.fast_mode
    return EngineOptions(
        threads=model.threads,
        precision=model.precision,
        cuda_graph=model.cuda_graph,
        providers=tuple(model.onnxruntime_providers),
        spinning=model.onnxruntime_spinning,
        plan_cache_dir=plan_cache,
        device=model.gpu,
        fast_mode=FastModeOptions(
            enabled=fast.enabled,
            refresh_every_frames=fast.refresh_every_frames,
            min_instance_score=fast.min_instance_score,
        ),
    )
