"""A plain (non-editable) install finds shaders/, scenes/ and assets/ and both commands."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_wheel_carries_data_folders_and_entry_points(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("depthfusion-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "depthfusion/_data/scenes/demo.yaml" in names
    assert any(n.startswith("depthfusion/_data/shaders/") and n.endswith(".glsl") for n in names)
    assert any(n.startswith("depthfusion/_data/assets/") for n in names)
    assert "ldm3d_core/codec.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "depthfusion = depthfusion.cli:main" in text and "ldm3d = ldm3d_core.cli:main" in text

    # Installed away from the checkout, the package finds its data inside itself.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = (
        "import depthfusion.resources as r; "
        "print(r.data_dir('scenes')); print(r.shader_path('mesh').exists()); print(r.scene_path('demo').exists())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        check=True,
    )
    lines = out.stdout.split()
    assert lines[0].startswith(str(target)) and lines[0].endswith("_data/scenes")
    assert lines[1:] == ["True", "True"]
