"""Export a tiny random model to a package; ONNX Runtime must reproduce the torch module, and
rtpose.engine.load must reject broken packages and bad frames with clear messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from export.package import EXPORTER_NAME, run_onnxruntime, write_package  # noqa: E402
from export.topdown import TopDownConfig, TopDownModel  # noqa: E402
from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, UNet, UNetConfig  # noqa: E402
from rtpose.core.errors import EngineError, ModelPackageError  # noqa: E402
from rtpose.core.model_metadata import METADATA_FILE, ONNX_FILE, read_metadata  # noqa: E402
from rtpose.core.types import Poses  # noqa: E402
from rtpose.engine import DEMO_MODEL_DIR, Engine, load, resolve_model_path  # noqa: E402

HEIGHT, WIDTH = 64, 80  # not square, so that swapped axes show
NODES = ["a", "b", "c", "d", "e"]


def _tiny_model() -> TopDownModel:
    torch.manual_seed(0)
    centroid = UNet(
        UNetConfig(output_channels=1, head_name=CENTROID_HEAD, filters=4, filters_rate=1.5, max_stride=8)
    )
    instance = UNet(
        UNetConfig(
            output_channels=5, head_name=CENTERED_INSTANCE_HEAD, filters=4, filters_rate=1.5, max_stride=8
        )
    )
    with torch.no_grad():  # lift the random maps above the thresholds, so peaks and nodes are found
        centroid.head_layers[0][CENTROID_HEAD][0].bias.fill_(0.5)
        instance.head_layers[0][CENTERED_INSTANCE_HEAD][0].bias.fill_(0.5)
    config = TopDownConfig(
        frame_height=HEIGHT,
        frame_width=WIDTH,
        frame_channels=1,
        max_instances=3,
        centroid_scale=0.5,
        crop_size=16,
    )
    return TopDownModel(config, centroid, instance).eval()


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[TopDownModel, Path]:
    model = _tiny_model()
    out = tmp_path_factory.mktemp("export") / "tiny"
    write_package(
        model,
        out,
        name="tiny",
        node_names=NODES,
        edges=[(1, 0), (1, 2)],
        anchor_node="b",
        provenance={"purpose": "test"},
        check_frames=[_frame(0)],
    )
    return model, out


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 1), dtype=np.uint8)


@pytest.mark.parametrize("seed", [1, 2])
def test_onnxruntime_reproduces_the_torch_module(tiny_package: tuple[TopDownModel, Path], seed: int) -> None:
    model, out = tiny_package
    frame = _frame(seed)
    with torch.no_grad():
        expected = [tensor.numpy() for tensor in model(torch.from_numpy(frame))]
    got = run_onnxruntime(out / ONNX_FILE, frame)
    assert expected[3].any()  # some slots are filled, so the whole decode is compared
    for want, have in zip(expected, got, strict=True):
        assert have.dtype == want.dtype and have.shape == want.shape
        np.testing.assert_allclose(have, want, rtol=0, atol=1e-4)


def test_metadata_describes_the_graph(tiny_package: tuple[TopDownModel, Path]) -> None:
    _, out = tiny_package
    metadata = read_metadata(out)
    assert metadata.frame_shape == (HEIGHT, WIDTH, 1)
    assert metadata.max_instances == 3 and metadata.node_names == NODES
    assert metadata.edges == [(1, 0), (1, 2)] and metadata.anchor_node == "b"
    centroid = metadata.centroid
    assert (centroid.scale, centroid.output_stride, centroid.max_stride) == (0.5, 2, 8)
    assert metadata.instance.crop_size == 16
    assert metadata.provenance["exporter"] == EXPORTER_NAME
    assert metadata.provenance["purpose"] == "test"
    assert "created_utc" in metadata.provenance


def test_engine_runs_the_package(tiny_package: tuple[TopDownModel, Path]) -> None:
    engine = load(tiny_package[1])
    try:
        assert isinstance(engine, Engine)
        frame = _frame(3)
        poses = engine.infer(frame)
        assert isinstance(poses, Poses)
        assert poses.points.shape == (3, 5, 2) and poses.points.dtype == np.float32
        assert poses.valid.dtype == np.bool_ and poses.centroids.shape == (3, 2)
        flat = engine.infer(frame[:, :, 0])  # H×W is taken as one channel
        np.testing.assert_array_equal(flat.points, poses.points)
    finally:
        engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.infer(_frame(3))


def test_load_rejects_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelPackageError, match="does not exist"):
        load(tmp_path / "nowhere")


def test_load_rejects_a_folder_without_metadata(
    tiny_package: tuple[TopDownModel, Path], tmp_path: Path
) -> None:
    _, out = tiny_package
    shutil.copy(out / ONNX_FILE, tmp_path / ONNX_FILE)
    with pytest.raises(ModelPackageError, match=f"{METADATA_FILE} is missing"):
        load(tmp_path)


def test_load_rejects_a_changed_graph(tiny_package: tuple[TopDownModel, Path], tmp_path: Path) -> None:
    _, out = tiny_package
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with (copy / ONNX_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelPackageError, match="sha256"):
        load(copy)


def test_load_rejects_a_graph_onnxruntime_cannot_read(
    tiny_package: tuple[TopDownModel, Path], tmp_path: Path
) -> None:
    _, out = tiny_package
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / ONNX_FILE).write_bytes(b"not an onnx graph")
    metadata = read_metadata(copy, verify_hash=False)
    from rtpose.core.model_metadata import FilesSpec, sha256_of, write_metadata

    files = FilesSpec(onnx=ONNX_FILE, onnx_sha256=sha256_of(copy / ONNX_FILE))
    write_metadata(copy, metadata.model_copy(update={"files": files}))
    with pytest.raises(ModelPackageError, match="ONNX Runtime cannot load"):
        load(copy)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((WIDTH, HEIGHT, 1), np.uint8), f"must be {HEIGHT}×{WIDTH}×1 .*got {WIDTH}×{HEIGHT}×1"),
        (np.zeros((HEIGHT, WIDTH, 3), np.uint8), f"must be {HEIGHT}×{WIDTH}×1 .*got {HEIGHT}×{WIDTH}×3"),
        (np.zeros((HEIGHT, WIDTH, 1), np.float32), f"must be uint8 {HEIGHT}×{WIDTH}×1 .*got float32"),
    ],
)
def test_infer_rejects_a_wrong_frame(
    tiny_package: tuple[TopDownModel, Path], frame: np.ndarray, message: str
) -> None:
    engine = load(tiny_package[1])
    with pytest.raises(EngineError, match=message):
        engine.infer(frame)
    engine.close()


def test_load_rejects_an_unknown_backend(tiny_package: tuple[TopDownModel, Path]) -> None:
    with pytest.raises(EngineError, match="unknown engine backend 'tensorflow'"):
        load(tiny_package[1], backend="tensorflow")


def test_model_paths_resolve(tmp_path: Path) -> None:
    assert resolve_model_path("demo") == DEMO_MODEL_DIR
    assert resolve_model_path("models/x", tmp_path) == tmp_path / "models" / "x"
    assert resolve_model_path(tmp_path / "abs", "/elsewhere") == tmp_path / "abs"


def test_runtime_variants_are_listed_with_their_hashes(tiny_package: tuple[TopDownModel, Path]) -> None:
    from rtpose.core.model_metadata import sha256_of

    _, out = tiny_package
    files = read_metadata(out).files
    assert (files.instance_onnx, files.torch_program, files.instance_torch_program) == (
        "instance.onnx",
        "model.pt2",
        "instance.pt2",
    )
    for name, digest in files.listed():
        assert sha256_of(out / name) == digest


@pytest.mark.parametrize("name", ["model.pt2", "instance.onnx"])
def test_load_rejects_a_changed_or_missing_variant(
    tiny_package: tuple[TopDownModel, Path], tmp_path: Path, name: str
) -> None:
    _, out = tiny_package
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with (copy / name).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelPackageError, match=f"{name} does not match the sha256"):
        load(copy)
    (copy / name).unlink()
    with pytest.raises(ModelPackageError, match=f"the file {name} listed in {METADATA_FILE} is missing"):
        load(copy)


@pytest.mark.parametrize("seed", [1, 2])
def test_instance_graph_at_the_modules_centroids_gives_its_points(
    tiny_package: tuple[TopDownModel, Path], seed: int
) -> None:
    import onnxruntime as ort

    model, out = tiny_package
    frame = _frame(seed)
    with torch.no_grad():
        points, point_scores, _, valid, centroids = (t.numpy() for t in model(torch.from_numpy(frame)))
    session = ort.InferenceSession(str(out / "instance.onnx"), providers=["CPUExecutionProvider"])
    got_points, got_scores, got_valid = session.run(None, {"frame": frame, "centroids": centroids})
    assert valid.any()
    np.testing.assert_array_equal(got_valid, valid)
    np.testing.assert_allclose(got_points, points, atol=1e-4)
    np.testing.assert_allclose(got_scores, point_scores, atol=1e-5)


def test_torch_backend_loads_the_program_without_the_exporter(
    tiny_package: tuple[TopDownModel, Path],
) -> None:
    """The runtime depends on the package format, not on export/: a fresh process loads model.pt2
    with the torch backend without importing export/, and gets the module's poses."""
    import subprocess
    import sys

    _, out = tiny_package
    frame_path = out.parent / "frame.npy"
    np.save(frame_path, _frame(1))
    script = (
        "import sys, numpy as np\n"
        "from rtpose.engine import load\n"
        f"engine = load({str(out)!r}, 'torch')\n"
        f"poses = engine.infer(np.load({str(frame_path)!r}))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'export'], 'export/ was imported'\n"
        "np.save(sys.argv[1], poses.points)\n"
    )
    result_path = out.parent / "points.npy"
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-W", "error", "-c", script, str(result_path)]
    subprocess.run(command, check=True, timeout=120, cwd=root)
    np.testing.assert_allclose(
        np.load(result_path), run_onnxruntime(out / ONNX_FILE, _frame(1))[0], atol=1e-4
    )
