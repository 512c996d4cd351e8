"""Start a small RGBD VAE as a block-average codec, so colour survives from step 0.

A tiny KL autoencoder trained for minutes on a CPU learns structure and depth long before it
learns colour: the embedded model's first VAE gave red pillars back blue and yellow walls
beige (23 % of the named colours survived its reconstructions). This initialisation makes a
diffusers ``AutoencoderKL`` *exactly* what colour needs before any training:

- the encoder's latent mean channels 0..C-1 are the f x f block averages of the C input
  channels (RGB and depth, in model space [-1, 1]); its log-variance starts small;
- the decoder returns each latent cell's value over its f x f block (``nearest``: exact
  on held-out panoramas, 77 % of named colours kept, RGB L1 0.123) or interpolates the
  cells (``bilinear``: 70 %, L1 0.139 untrained, but no blocks; the embedded model's last
  stage restarts its decoder this way with :func:`reset_decoder` and trains it).

Every residual branch (ResNet ``conv2``, the attention output) starts at zero, so the blocks
are identities that training then grows into detail; the down-sampling convolutions average
2 x 2 blocks and the up-sampling ones pass their input through (or smooth it). The two GroupNorms on the
main path (before each ``conv_out``) would normalise every image's colour away, so the signal
travels as pairs ``(x, -x)`` next to constant pairs ``(K, -K)`` in each group: the group mean
is exactly zero and its spread is dominated by ``K`` (nearly constant), the norm's gain undoes
that spread, a bias puts SiLU in its linear range, and ``conv_out`` reads ``(x - (-x)) / 2``,
which cancels the bias and SiLU's even error. Needs ``norm_num_groups`` dividing every level
into groups of four or more channels that hold the 4 C signal-and-constant channels first:
(16, 32, 64, 64) with 4 groups for RGBD.
"""

from __future__ import annotations

import torch
from torch import nn

# Every helper below writes weights in place: they run under init_block_average's no_grad.

#: Constant channel value: the signal (|x| <= 1) changes a group's spread by < (1/K)^2.
CONSTANT = 16.0
#: GroupNorm output bias: SiLU(x + BIAS) = x + BIAS to 1e-6 relative for |x| <= 1.
BIAS = 14.0
#: Initial posterior log-variance (std 0.05: a little noise, the decoder stays smooth).
LOGVAR = -6.0


def _layout(c: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """Channels of signal i: +x at 4i, -x at 4i+1, +K at 4i+2, -K at 4i+3."""
    return tuple([4 * i + k for i in range(c)] for k in range(4))  # type: ignore[return-value]


def _spread(conv: nn.Conv2d, c: int) -> None:
    """conv's first 4 c outputs: input channel i as (x, -x, K, -K) (centre tap and bias)."""
    pos, neg, kpos, kneg = _layout(c)
    conv.weight[: 4 * c].zero_()
    conv.bias[: 4 * c].zero_()
    for i in range(c):
        conv.weight[pos[i], i, 1, 1] = 1.0
        conv.weight[neg[i], i, 1, 1] = -1.0
        conv.bias[kpos[i]] = CONSTANT
        conv.bias[kneg[i]] = -CONSTANT


def _gather(conv: nn.Conv2d, c: int) -> None:
    """conv's output i = (x - (-x)) / 2 of quadruple i; every other output starts at zero."""
    pos, neg, _, _ = _layout(c)
    conv.weight.zero_()
    conv.bias.zero_()
    for i in range(c):
        conv.weight[i, pos[i], 1, 1] = 0.5
        conv.weight[i, neg[i], 1, 1] = -0.5


def _zero(module: nn.Module) -> None:
    for p in module.parameters():
        p.zero_()


def _pass_through(conv: nn.Conv2d, width: int, kind: str = "copy") -> None:
    """conv's first ``width`` outputs take their own input channel alone: ``copy`` (the centre
    tap), ``average`` (the top-left 2 x 2 taps of a stride-2 downsampler: block means) or
    ``smooth`` ([1, 2, 1] / 4 both ways: after the upsampler's nearest x2, bilinear x2)."""
    conv.weight[:width].zero_()
    conv.weight[:, :width].zero_()
    if conv.bias is not None:
        conv.bias[:width].zero_()
    kh, kw = conv.weight.shape[2:]
    tent = torch.tensor([0.25, 0.5, 0.25])
    for ch in range(width):
        if kind == "average":
            conv.weight[ch, ch, :2, :2] = 0.25
        elif kind == "smooth":
            conv.weight[ch, ch] = torch.outer(tent, tent)
        else:
            conv.weight[ch, ch, kh // 2, kw // 2] = 1.0


def _identity_blocks(resnets, attentions, width: int) -> None:
    for res in resnets:
        _zero(res.conv2)  # residual branch off: the block is its shortcut
        if res.conv_shortcut is not None:
            _pass_through(res.conv_shortcut, width)
    for attn in attentions:
        _zero(attn.to_out[0])


def _norm_out(norm: nn.GroupNorm, c: int) -> None:
    """Gain that undoes the constant-dominated spread of the signal groups, bias into SiLU's
    linear range."""
    per_group = norm.num_channels // norm.num_groups
    if per_group < 4 or (4 * c) % per_group:
        raise ValueError(
            f"block-average init needs GroupNorm groups of >= 4 channels that tile the first "
            f"{4 * c} channels; got {norm.num_channels} channels in {norm.num_groups} groups"
        )
    # A group of n channels holds n/4 (K, -K) pairs: spread = K sqrt(2 (n/4) / n) = K / sqrt 2.
    norm.weight.fill_(CONSTANT / 2**0.5)
    norm.bias.fill_(BIAS)


@torch.no_grad()
def init_block_average(vae: nn.Module, upsample: str = "nearest") -> nn.Module:
    """Make ``vae`` (a diffusers ``AutoencoderKL``) a block-average codec; returns it.

    upsample : ``nearest`` (each cell repeated over its block) or ``bilinear`` (the decoder's
        upsamplers smooth: softer, no blocks, slightly less exact colour).
    """
    if upsample not in ("nearest", "bilinear"):
        raise ValueError(f"upsample must be nearest or bilinear, got {upsample!r}")
    enc, dec = vae.encoder, vae.decoder
    c = int(vae.config.in_channels)
    latent = int(vae.config.latent_channels)
    if latent < c or int(vae.config.out_channels) != c:
        raise ValueError(f"block-average init needs latent_channels >= {c} and {c} outputs")
    width = 4 * c
    if min(vae.config.block_out_channels) < width:
        raise ValueError(f"block-average init needs >= {width} channels at every level")

    # Encoder: conv_in spreads each input channel into its (x, -x, K, -K) quadruple.
    _spread(enc.conv_in, c)
    for block in enc.down_blocks:
        _identity_blocks(block.resnets, getattr(block, "attentions", None) or [], width)
        for down in block.downsamplers or []:
            _pass_through(down.conv, width, "average")
    mid = enc.mid_block
    _identity_blocks(mid.resnets, [a for a in mid.attentions if a is not None], width)
    _norm_out(enc.conv_norm_out, c)
    _gather(enc.conv_out, c)  # 2 * latent outputs: means, then log-variances
    enc.conv_out.bias[latent:] = LOGVAR
    if getattr(vae, "quant_conv", None) is not None:
        _eye_1x1(vae.quant_conv)
    if getattr(vae, "post_quant_conv", None) is not None:
        _eye_1x1(vae.post_quant_conv)

    # Decoder: the same quadruples from the first c latent channels.
    _spread(dec.conv_in, c)
    mid = dec.mid_block
    _identity_blocks(mid.resnets, [a for a in mid.attentions if a is not None], width)
    for block in dec.up_blocks:
        _identity_blocks(block.resnets, getattr(block, "attentions", None) or [], width)
        for up in block.upsamplers or []:
            _pass_through(up.conv, width, "smooth" if upsample == "bilinear" else "copy")
    _norm_out(dec.conv_norm_out, c)
    _gather(dec.conv_out, c)
    return vae


@torch.no_grad()
def reset_decoder(vae: nn.Module, upsample: str = "bilinear", seed: int = 0) -> nn.Module:
    """Replace ``vae``'s decoder (and post-quant conv) with a fresh block-average one.

    The encoder, and so the latent space, stays as it is: a decoder-only stage can restart
    from here (e.g. smooth upsampling instead of the blocks a nearest start leaves). The same
    ``seed`` gives the same decoder; the global torch RNG state is not touched."""
    from diffusers import AutoencoderKL

    # The seed picks the fresh decoder's (mostly overwritten) init; the caller's global RNG
    # stream is left as it was (a trainer seeds its discriminator from it next).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = AutoencoderKL.from_config(vae.config)
    init_block_average(fresh, upsample)
    vae.decoder.load_state_dict(fresh.decoder.state_dict())
    if getattr(vae, "post_quant_conv", None) is not None:
        vae.post_quant_conv.load_state_dict(fresh.post_quant_conv.state_dict())
    return vae


def _eye_1x1(conv: nn.Conv2d) -> None:
    conv.weight.zero_()
    conv.bias.zero_()
    for i in range(min(conv.weight.shape[:2])):
        conv.weight[i, i, 0, 0] = 1.0
