"""VAE surgery: a pretrained RGB ``AutoencoderKL`` (SD 1.x) -> an RGBD one (paper §3.1.1).

LDM3D changes only the first and last convolutions of Stable Diffusion's KL autoencoder:
``encoder.conv_in`` takes RGBD and ``decoder.conv_out`` returns it. The channel layout is
the one the pipelines encode and decode (:func:`ldm3d_core.codec.to_model_rgbd`):

- 6 channels (``Intel/ldm3d``): R, G, B, then the packed 16-bit depth triple (0, hi, lo),
  every channel mapped from [0, 255] to [-1, 1];
- 4 channels (``Intel/ldm3d-4c``, ``Intel/ldm3d-pano``): R, G, B, depth * 2 - 1.

Initialisation, chosen so that training starts from the pretrained RGB autoencoder:

- ``conv_in``: the pretrained weights on the RGB inputs, **zeros** on the depth inputs. The
  depth channels then do not reach the latent at all, so the converted VAE encodes RGB
  exactly as the source did, whatever the depth holds.
- ``conv_out``: the pretrained RGB rows unchanged (RGB is decoded exactly as before); each
  depth row (and its bias) is the **mean of the three RGB rows**, i.e. the decoder starts
  by predicting the image's grey level as depth: a smooth, in-range start that the
  fine-tuning reshapes, rather than random noise or a constant.

Parameters added for SD 1.x's VAE (``block_out_channels`` (128, 256, 512, 512), 3x3
convolutions): ``conv_in`` gains k·128·9 weights, ``conv_out`` gains 128·k·9 weights and k
biases, for k extra channels:

- 6 channels (k = 3): 3·128·9 + 128·3·9 + 3 = **6,915**. The paper (§4.4) prints 9,615: the
  same digits transposed; the architecture it describes admits only 6,915.
- 4 channels (k = 1): 1·128·9 + 128·1·9 + 1 = **2,305**.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

#: RGBD channel counts an LDM3D VAE may have (see :mod:`ldm3d_core.codec`).
RGBD_CHANNELS = (4, 6)


def added_parameters(channels: int, first_channels: int = 128, kernel: int = 3) -> int:
    """Parameters that converting an RGB VAE to ``channels`` RGBD channels adds.

    channels : 6 or 4
    first_channels : ``block_out_channels[0]``: outputs of ``conv_in`` = inputs of
        ``conv_out`` (128 for SD 1.x)
    kernel : size of both convolutions (3 in diffusers' AutoencoderKL)
    """
    extra = channels - 3
    return extra * first_channels * kernel**2 + first_channels * extra * kernel**2 + extra


def _conv_like(conv, in_channels: int, out_channels: int):
    import torch

    new = torch.nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    return new.to(device=conv.weight.device, dtype=conv.weight.dtype)


def convert_vae_to_rgbd(vae: AutoencoderKL, channels: int = 6) -> AutoencoderKL:
    """A copy of an RGB ``AutoencoderKL`` whose ``conv_in``/``conv_out`` take/return RGBD.

    vae : a 3-channel diffusers ``AutoencoderKL`` (left unchanged)
    channels : 6 (RGB + packed 16-bit depth) or 4 (RGB + one depth channel)

    The config's ``in_channels``/``out_channels`` are updated, so ``save_pretrained`` writes
    a folder the pipelines load as an LDM3D VAE. See the module docstring for the
    initialisation and the parameter counts.
    """
    import torch

    if channels not in RGBD_CHANNELS:
        raise ValueError(f"channels must be 4 or 6, got {channels}")
    cin, cout = vae.config.in_channels, vae.config.out_channels
    if cin != 3 or cout != 3:
        raise ValueError(
            f"the source VAE must be an RGB one (in_channels=out_channels=3), got "
            f"in_channels={cin}, out_channels={cout}"
        )
    new = copy.deepcopy(vae)
    old_in, old_out = vae.encoder.conv_in, vae.decoder.conv_out
    conv_in = _conv_like(old_in, channels, old_in.out_channels)
    conv_out = _conv_like(old_out, old_out.in_channels, channels)
    with torch.no_grad():
        conv_in.weight.zero_()
        conv_in.weight[:, :3] = old_in.weight
        if old_in.bias is not None:
            conv_in.bias.copy_(old_in.bias)
        conv_out.weight[:3] = old_out.weight
        conv_out.weight[3:] = old_out.weight.mean(dim=0, keepdim=True)
        if old_out.bias is not None:
            conv_out.bias[:3] = old_out.bias
            conv_out.bias[3:] = old_out.bias.mean()
    new.encoder.conv_in = conv_in
    new.decoder.conv_out = conv_out
    new.register_to_config(in_channels=channels, out_channels=channels)
    return new


def _is_vae_folder(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text("utf-8")).get("_class_name") == "AutoencoderKL"
    except (OSError, ValueError):
        return False


def load_source_vae(source: str | os.PathLike[str]) -> AutoencoderKL:
    """An ``AutoencoderKL`` from a VAE folder, a full diffusers model folder (its ``vae/``),
    or a hub id in the local Hugging Face cache (``CompVis/stable-diffusion-v1-4``).

    Raises FileNotFoundError (one line, saying how to get the model) when it is missing.
    """
    from diffusers import AutoencoderKL

    from .errors import ModelNotFoundError
    from .loading import model_part

    path = Path(source).expanduser()
    if path.is_dir():
        if _is_vae_folder(path):
            with model_part(path.parent, path.name):
                return AutoencoderKL.from_pretrained(path)
        if _is_vae_folder(path / "vae"):
            with model_part(path, "vae"):
                return AutoencoderKL.from_pretrained(path, subfolder="vae")
        raise FileNotFoundError(
            f"{path}: neither a diffusers VAE folder (config.json of an AutoencoderKL) nor a "
            "model folder with a vae/ subfolder"
        )
    if path.exists():
        raise FileNotFoundError(f"{path}: expected a folder, got a file")
    name = str(source)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"{name}: folder not found")
    for subfolder in ("vae", None):  # a full model's vae/, or a VAE-only repository
        try:
            return AutoencoderKL.from_pretrained(name, subfolder=subfolder, local_files_only=True)
        except (OSError, ValueError):
            pass
    raise ModelNotFoundError(
        f"{name} is not in the Hugging Face cache; download it with "
        f"`huggingface-cli download {name}` or give a local folder",
        model=name,
    ) from None


def convert_vae_folder(
    source: str | os.PathLike[str], output: str | os.PathLike[str], channels: int = 6
) -> Path:
    """Load an RGB VAE (see :func:`load_source_vae`), convert it and save it to ``output``.

    ``output`` becomes a diffusers VAE folder (``config.json`` +
    ``diffusion_pytorch_model.safetensors``). It is written beside under a temporary name
    and renamed when complete, so an interrupted run leaves no half-written folder.
    """
    import shutil
    import tempfile

    out = Path(output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder")
    vae = convert_vae_to_rgbd(load_source_vae(source), channels)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        vae.save_pretrained(tmp, safe_serialization=True)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# -- CLI ----------------------------------------------------------------------------------


def cmd_convert_vae(args: argparse.Namespace) -> int:
    """Run ``ldm3d convert-vae`` (see :func:`register`)."""
    import diffusers.utils.logging

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    try:
        out = convert_vae_folder(args.source, args.output, args.channels)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"ldm3d: error: {exc}") from None
    print(out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``convert-vae`` subcommand to the ``ldm3d`` parser's subparsers."""
    p = subparsers.add_parser(
        "convert-vae",
        help="widen a pretrained RGB VAE (SD 1.x) to an RGBD one (6 or 4 channels)",
        description=(
            "Turn an RGB AutoencoderKL into an LDM3D RGBD one: conv_in takes RGB + depth "
            "(depth weights zero, so RGB encodes exactly as before), conv_out returns RGB + "
            "depth (depth rows start as the mean of the RGB rows). Adds 6,915 parameters to "
            "SD 1.x's VAE for 6 channels, 2,305 for 4."
        ),
    )
    p.add_argument(
        "source",
        help="diffusers VAE folder, model folder with vae/, or hub id in the local cache",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="VAE folder to create")
    p.add_argument(
        "--channels",
        type=int,
        choices=RGBD_CHANNELS,
        default=6,
        help="6: RGB + packed 16-bit depth (Intel/ldm3d); 4: RGB + depth (ldm3d-4c) [6]",
    )
    p.set_defaults(func=cmd_convert_vae)
    return p
