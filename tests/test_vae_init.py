"""Block-average initialisation of a small RGBD VAE (ldm3d_core.vae_init)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from ldm3d_core.panorama import horizontal_wrap
from ldm3d_core.vae_init import init_block_average


def make_vae(groups: int = 4, latent: int = 4, channels=(16, 32, 64, 64)):
    from diffusers import AutoencoderKL

    n = len(channels)
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=channels,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        latent_channels=latent,
        norm_num_groups=groups,
    ).eval()


@pytest.mark.parametrize("latent", [4, 8])
def test_encoder_averages_blocks_and_decoder_repeats_them(latent):
    vae = init_block_average(make_vae(latent=latent))
    x = torch.rand(2, 4, 64, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        post = vae.encode(x).latent_dist
        blocks = F.avg_pool2d(x, 8)
        assert (post.mean[:, :4] - blocks).abs().max() < 1e-4
        assert (post.mean[:, 4:] == 0).all()  # spare channels start empty
        assert torch.allclose(post.std, torch.full_like(post.std, 0.0498), atol=1e-3)
        rec = vae.decode(post.mean).sample
    assert (rec - F.interpolate(blocks, scale_factor=8, mode="nearest")).abs().max() < 1e-4
    # Colour survives whatever the image's own mean (GroupNorm does not normalise it away;
    # the signal widens each group's spread by sqrt(1 + x^2 / K^2): 0.1 % per norm here).
    for shift in (-0.8, 0.8):
        flat = torch.full((1, 4, 64, 64), shift)
        with torch.no_grad():
            out = vae.decode(vae.encode(flat).latent_dist.mean).sample
        assert (out - shift).abs().max() < 3e-3


def test_random_vae_loses_the_mean_colour_the_init_keeps():
    """The failure it fixes: an untrained VAE maps flat images of different colours alike."""
    vae = make_vae()
    outs = []
    for shift in (-0.8, 0.8):
        with torch.no_grad():
            flat = torch.full((1, 4, 64, 64), shift)
            outs.append(vae.decode(vae.encode(flat).latent_dist.mean).sample)
    assert (outs[0] - outs[1]).abs().mean() < 0.5  # far from the 1.6 between the inputs


def test_training_can_move_every_residual_branch():
    vae = init_block_average(make_vae())
    x = torch.rand(1, 4, 64, 64) * 2 - 1
    rec = vae.decode(vae.encode(x).latent_dist.mean).sample
    F.l1_loss(rec, x).backward()
    conv2 = [r.conv2.weight.grad for b in vae.decoder.up_blocks for r in b.resnets]
    assert all(g is not None and g.abs().sum() > 0 for g in conv2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"groups": 8}, "groups of >= 4"),
        ({"latent": 2}, "latent_channels >= 4"),
        ({"channels": (8, 16), "groups": 2}, ">= 16 channels"),
    ],
)
def test_unsupported_shapes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_block_average(make_vae(**kwargs))


def test_reset_decoder_is_seeded_and_leaves_the_global_rng_alone():
    from ldm3d_core.vae_init import reset_decoder

    a, b, c = (init_block_average(make_vae()) for _ in range(3))
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    reset_decoder(a, "bilinear", seed=5)
    assert torch.equal(torch.rand(4), expected)  # the caller's stream goes on as if untouched
    reset_decoder(b, "bilinear", seed=5)
    reset_decoder(c, "bilinear", seed=6)
    sa, sb, sc = (m.decoder.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)  # the seed does pick the init


def test_reset_decoder_keeps_the_encoder_and_smooths_the_cells():
    from ldm3d_core.vae_init import reset_decoder

    vae = init_block_average(make_vae())
    with torch.no_grad():  # a "trained" decoder, to be replaced
        for p in vae.decoder.parameters():
            p.add_(0.01)
    encoder = {k: v.clone() for k, v in vae.encoder.state_dict().items()}
    reset_decoder(vae, "bilinear")
    assert all(torch.equal(v, encoder[k]) for k, v in vae.encoder.state_dict().items())
    cells = torch.rand(1, 4, 8, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    x = F.interpolate(cells, scale_factor=8, mode="nearest")  # a mosaic of 8x8 cells
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        smooth = vae.decode(z).sample
        blocky = init_block_average(make_vae()).decode(z).sample
    inside = lambda img: (img[..., 1:] - img[..., :-1]).abs()[..., torch.arange(127) % 8 != 7]  # noqa: E731
    assert inside(blocky).max() < 1e-4  # nearest: flat inside every 8x8 cell
    assert inside(smooth).mean() > 0.01  # bilinear: no plateaus
    # Colour is kept away from the top and bottom rows (zero padding there).
    assert (smooth[..., 16:-16, :] - blocky[..., 16:-16, :]).mean().abs() < 0.01
    # A flat panorama comes back flat, within 2 %: the top and bottom rows' zero padding
    # thins the constant channels there, which shifts the norms' spread a little.
    flat = torch.full((1, 4, 128, 256), 0.6)
    with torch.no_grad(), horizontal_wrap(vae):
        out = vae.decode(vae.encode(flat).latent_dist.mean).sample
    assert (out[..., 8:-8, :] - 0.6).abs().max() < 0.012
