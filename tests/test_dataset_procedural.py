"""`depthfusion dataset`: captioned procedural RGBD panoramas, resumable, in the layout the
ldm3d dataset reader takes."""

import csv

import numpy as np

from depthfusion.cli import main
from depthfusion.rgbd.io import read_depth, read_rgb
from depthfusion.sources.procedural import build_scene, generate_panorama


def test_dataset_items_match_the_generator_and_resume(tmp_path, capsys):
    out = tmp_path / "data"
    argv = ["dataset", str(out), "--count", "4", "--width", "32", "--supersample", "1", "-q"]
    assert main(argv) == 0
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [(r["preset"], r["seed"]) for r in rows] == [
        ("room", "0"), ("courtyard", "0"), ("pillars", "0"), ("room", "1"),
    ]  # fmt: skip
    for r in rows:
        scene = build_scene(r["preset"], int(r["seed"]))
        assert r["caption"] == scene.caption and r["caption"].startswith("360 view of")
        assert (out / r["image"].replace(".png", ".txt")).read_text().strip() == r["caption"]
        truth = generate_panorama(scene, width=32)
        np.testing.assert_array_equal(read_rgb(out / r["image"]), truth.rgb)
        depth = read_depth(out / r["depth"])[0]
        assert depth.shape == (16, 32)
        np.testing.assert_allclose(depth, truth.depth, atol=1 / 65535)
    # Captions differ between items: they are generated from each scene's parameters.
    assert len({r["caption"] for r in rows}) == 4

    # Resume: a deleted item is rebuilt, the others are kept (same mtime), the manifest grows.
    (out / rows[1]["depth"]).unlink()
    kept = (out / rows[0]["image"]).stat().st_mtime_ns
    assert main([*argv[:3], "6", *argv[4:]]) == 0
    rows2 = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows2) == 6 and rows2[:4] == rows
    assert (out / rows[1]["depth"]).exists()
    assert (out / rows[0]["image"]).stat().st_mtime_ns == kept


def test_dataset_bad_input(tmp_path, capsys):
    assert main(["dataset", str(tmp_path / "d"), "--presets", "castle", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "castle" in err[0] and "--presets" in err[0]
    assert main(["dataset", str(tmp_path / "d"), "--count", "0", "-q"]) == 2
    assert "--count" in capsys.readouterr().err
