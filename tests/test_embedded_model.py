"""The embedded LDM3D-pano: its recipe's parts (held-out data, caption tokenizer, cropped
autoencoder data, cached latents, prompt-following metrics) and the shipped model itself."""

import json
import os

import numpy as np
import pytest
import torch

from depthfusion.prompt_following import (
    dominant_colour,
    evaluate,
    heldout_scenes,
    model_generator,
    named_colour,
    spearman,
    summary,
    truth_generator,
)
from depthfusion.resources import asset_path
from depthfusion.sources.dataset import combination, is_held_out, plan_items
from depthfusion.sources.procedural import PALETTE, build_scene
from ldm3d_core.panorama import seam_stats

MODEL = asset_path("models/ldm3d-pano-tiny")


# -- data: held-out combinations -------------------------------------------------------------


def test_holdout_keeps_heldout_combinations_out_of_the_plan():
    plan = plan_items(60, holdout=0.1)
    combos = {combination(build_scene(p, s).params) for p, s in plan}
    assert not any(is_held_out(build_scene(p, s).params, 0.1) for p, s in plan)
    held = heldout_scenes(12, 0.1)
    assert all(is_held_out(s.params, 0.1) for s in held)
    assert not combos & {combination(s.params) for s in held}
    # presets in turn, and the plan without holdout is the plain one
    assert [p for p, _ in plan[:3]] == ["room", "courtyard", "pillars"]
    assert plan_items(3) == [("room", 0), ("courtyard", 0), ("pillars", 0)]


def test_holdout_fraction_is_checked():
    from depthfusion.errors import InputError

    with pytest.raises(InputError, match="--holdout"):
        plan_items(3, holdout=1.0)


# -- the caption tokenizer -------------------------------------------------------------------


def test_caption_tokenizer_is_a_clip_tokenizer_with_grammar_words_whole(tmp_path):
    from transformers import CLIPTokenizer

    from ldm3d_core.caption_tokenizer import train_caption_tokenizer

    captions = [
        build_scene(p, s).caption for p in ("room", "courtyard", "pillars") for s in range(60)
    ]
    folder = train_caption_tokenizer(captions, tmp_path / "tok")
    assert {"vocab.json", "merges.txt"} <= {f.name for f in folder.iterdir()}
    tok = CLIPTokenizer.from_pretrained(folder)
    words = tok.convert_ids_to_tokens(
        tok("360 view of a purple room with a checkered floor").input_ids
    )
    assert words[1:-1] == ["3</w>", "6</w>", "0</w>", "view</w>", "of</w>", "a</w>", "purple</w>",
                           "room</w>", "with</w>", "a</w>", "checkered</w>", "floor</w>"]  # fmt: skip
    # Words it never saw fall apart into known pieces, never into an unknown token.
    ids = tok("a cozy Living-room at dawn!").input_ids
    assert tok.unk_token_id not in ids[1:-1] and len(ids) > 8
    assert len(tok) < 1000  # small: the text encoder's table stays small


# -- training data and latents ---------------------------------------------------------------


def test_dataset_crop_windows_wrap_around_the_seam(tmp_path):
    from depthfusion.sources.dataset import write_dataset
    from ldm3d_core.data import RGBDDataset

    write_dataset(tmp_path, 1, width=64, supersample=1, quiet=True)
    whole = RGBDDataset(tmp_path, 32, panorama=True, augment=False)[0]["pixel_values"]
    ds = RGBDDataset(tmp_path, 32, panorama=True, augment=True, crop=16)
    seen_seam = False
    for epoch in range(12):
        ds.set_epoch(epoch)
        x = ds[0]["pixel_values"]
        assert x.shape == (4, 16, 16)
        # The window is somewhere in the (possibly mirrored) panorama, columns modulo W.
        found = False
        for pano in (whole, whole.flip(-1)):
            for top in range(17):
                for left in range(64):
                    cols = (np.arange(left, left + 16) % 64).tolist()
                    if torch.equal(pano[:, top : top + 16][:, :, cols], x):
                        found, seen_seam = True, seen_seam or left > 48
                        break
                if found:
                    break
            if found:
                break
        assert found
    assert seen_seam  # some window crossed ±180°
    centre = RGBDDataset(tmp_path, 32, panorama=True, augment=False, crop=16)[0]["pixel_values"]
    assert torch.equal(centre, whole[:, 8:24, 24:40])
    with pytest.raises(ValueError, match="crop"):
        RGBDDataset(tmp_path, 32, panorama=True, crop=12)


def test_cached_latents_augment_by_mirror_and_whole_column_rolls():
    from ldm3d_core.training.diffusion import CachedLatents

    mean = torch.arange(2 * 4 * 2 * 8, dtype=torch.float32).view(2, 4, 2, 8)
    std = mean + 1000
    cache = CachedLatents(mean, std, ["a", "b"], augment=True, panorama=True, seed=0)
    draws = []
    for epoch in range(8):
        cache.set_epoch(epoch)
        item = cache[1]
        assert item["caption"] == "b"
        assert torch.equal(item["latent_std"], item["latent_mean"] + 1000)  # same transform
        m = item["latent_mean"]
        assert any(
            torch.equal(m, p.roll(k, -1)) for p in (mean[1], mean[1].flip(-1)) for k in range(8)
        )
        draws.append(m)
    assert len({tuple(d.flatten().tolist()) for d in draws}) > 2
    cache.set_epoch(3)
    assert torch.equal(cache[1]["latent_mean"], draws[3])  # reproducible per (epoch, index)
    plain = CachedLatents(mean, std, ["a", "b"], augment=False, panorama=True, seed=0)
    assert torch.equal(plain[0]["latent_mean"], mean[0])


# -- prompt-following metrics ----------------------------------------------------------------


def test_dominant_colour_reads_the_named_colour_of_true_rooms():
    scenes = [s for s in heldout_scenes(9) if s.preset == "room"]
    results = evaluate(truth_generator(128), scenes)
    assert [r.found for r in results] == [named_colour(s) for s in scenes]
    assert all(r.spearman > 0.999 for r in results)


def test_dominant_colour_follows_the_wall_colour_not_the_objects():
    h, w = 32, 64
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = np.array(PALETTE["black"]) * 255  # floor/ceiling bands: outside the measured band
    band = slice(h // 2 - 4, h // 2 + 4)
    img[band] = np.array(PALETTE["teal"]) * 255 * 0.85
    img[band, :20] = np.array(PALETTE["orange"]) * 255  # an object, smaller than the walls
    assert dominant_colour(img, "room") == "teal"
    img[band, :40] = np.array(PALETTE["orange"]) * 255
    assert dominant_colour(img, "room") == "orange"


def test_first_named_object_and_its_colour_below_the_horizon():
    from depthfusion.prompt_following import (
        OBJECT_MIN_SHARE,
        named_object,
        object_colour_share,
    )

    scenes = heldout_scenes(6)
    for scene in scenes:
        what, colour = named_object(scene)
        assert colour in PALETTE and colour in scene.caption
        assert what in scene.caption or scene.preset == "room"
    h, w = 64, 128
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = np.array(PALETTE["grey"]) * 255
    lower = slice(h // 2, h // 2 + 16)  # from the horizon down to -45 degrees
    img[lower, :4] = np.array(PALETTE["red"]) * 255 * 0.9  # 64 of 2048 band pixels
    assert object_colour_share(img, "red") == pytest.approx(64 / (w * 21), rel=0.01)
    assert object_colour_share(img, "red") >= OBJECT_MIN_SHARE
    img2 = img.copy()
    img2[lower, :4] = img[0, 0]  # moved above the horizon: not found
    img2[h // 2 - 16 : h // 2, :4] = np.array(PALETTE["red"]) * 255 * 0.9
    assert object_colour_share(img2, "red") == 0.0


def test_truth_shows_the_first_named_objects_colour():
    results = evaluate(truth_generator(256), heldout_scenes(9))
    # Pillars and buildings are large; a room's first object is small (0.5-6 % of the band).
    found = [r.object_found for r in results if r.object_found is not None]
    assert len(found) >= 8 and np.mean(found) >= 0.75, results


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.random((16, 32))
    b = a + 0.5 * rng.random((16, 32))
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1.0)


# -- the shipped model -----------------------------------------------------------------------


def test_embedded_model_is_small_complete_and_documented():
    from ldm3d_core.loading import resolve_model_dir

    assert resolve_model_dir(MODEL) == MODEL
    weights = sum(f.stat().st_size for f in MODEL.rglob("*.safetensors"))
    assert weights <= 25 * 2**20
    assert {"vocab.json", "merges.txt"} <= {f.name for f in (MODEL / "tokenizer").iterdir()}
    card = (MODEL / "MODEL_CARD.md").read_text()
    for command in ("depthfusion dataset", "ldm3d train autoencoder", "ldm3d train diffusion"):
        assert command in card
    vae = json.loads((MODEL / "vae" / "config.json").read_text())
    assert vae["in_channels"] == 4 and vae["scaling_factor"] != 0.18215
    # trained on a zero-terminal-SNR schedule; sampled with the same one
    sched = json.loads((MODEL / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction" and sched["rescale_betas_zero_snr"]
    assert sched["timestep_spacing"] == "trailing"


@pytest.fixture(scope="module")
def embedded_results():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    scenes = heldout_scenes(9)
    return evaluate(model_generator(str(MODEL), steps=20), scenes)


def test_embedded_model_follows_prompts(embedded_results):
    s = summary(embedded_results)
    # A smaller version of the model card's 50-caption measurement (colour 96 %, rho 0.88
    # there; 9 of these 9 here, rho 0.87, the lowest 0.79). The targets: colour
    # >= 80 % (8 of 9 here), rho >= 0.6. The model before zero-terminal-SNR training got 5.
    assert s["spearman"] >= 0.6, embedded_results
    assert min(r.spearman for r in embedded_results) > 0.5, embedded_results
    assert s["colour_match"] >= 8 / 9, embedded_results


def test_embedded_model_panoramas_wrap_around():
    from ldm3d_core import load_pipeline

    pipe = load_pipeline(str(MODEL), progress=False)
    prompt = heldout_scenes(1)[0].caption
    out = pipe.txt2rgbd(prompt, seed=1, num_inference_steps=10, panorama=True)
    assert out.rgb[0].shape == (128, 256, 3)
    for image in (out.rgb[0], out.depth[0]):
        st = seam_stats(image)
        # the seam is never the largest column step here and within 6x the median (measured
        # 1.3-3.4 over six captions; without wrap-around 19-50)
        assert st.seam <= st.max_step and st.ratio < 6.0, st
    cut = pipe.txt2rgbd(prompt, seed=1, num_inference_steps=10, panorama=True, wrap=False)
    assert seam_stats(cut.rgb[0]).ratio > 3 * seam_stats(out.rgb[0]).ratio


def test_prompt_scene_with_the_embedded_model(tmp_path):
    from depthfusion.pipeline import render_scene
    from depthfusion.scene import load_scene

    (tmp_path / "s.yaml").write_text(
        "source: {prompt: '360 view of a red room with a wooden floor, a blue sphere',\n"
        "         model: embedded, generation: {steps: 4}}\n"
        "outputs: [{kind: rgbd, path: pano.png}]\n"
    )
    render_scene(load_scene(tmp_path / "s.yaml"), quiet=True)
    import cv2

    depth = cv2.imread(str(tmp_path / "pano_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.shape == (128, 256) and depth.dtype == np.uint16  # the model's native size
