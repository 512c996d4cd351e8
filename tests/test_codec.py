"""ldm3d_core.codec: lossless 16-bit depth packing (all 65,536 values)."""

import numpy as np
import pytest

from ldm3d_core import codec


def test_every_16bit_value_round_trips_through_packed_form():
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    packed = codec.pack_depth16(every)
    assert packed.dtype == np.uint8 and packed.shape == (256, 256, 3)
    assert not packed[..., 0].any()
    assert codec.is_packed_depth(packed)
    np.testing.assert_array_equal(codec.unpack_depth16(packed), every)


def test_every_16bit_value_round_trips_through_float_and_6_channel_model_form():
    every = np.arange(65536, dtype=np.uint16).reshape(128, 512)
    as_float = codec.depth16_to_float(every)
    np.testing.assert_array_equal(codec.float_to_depth16(as_float), every)
    rgb = np.zeros((128, 512, 3), np.uint8)
    x6 = codec.to_model_rgbd(rgb, as_float, channels=6)
    assert x6.shape == (128, 512, 6) and x6.min() >= -1 and x6.max() <= 1
    _, depth, depth16 = codec.from_model_rgbd(x6)
    np.testing.assert_array_equal(depth16, every)
    np.testing.assert_array_equal(depth, as_float)


def test_four_channel_form():
    rgb = np.array([[[0, 128, 255]]], np.uint8)
    x4 = codec.to_model_rgbd(rgb, np.array([[0.25]]), channels=4)
    np.testing.assert_allclose(x4[0, 0], [-1, 128 / 127.5 - 1, 1, -0.5], atol=1e-6)
    rgb2, depth, depth16 = codec.from_model_rgbd(x4)
    np.testing.assert_array_equal(rgb2, rgb)
    assert depth16[0, 0] == round(0.25 * 65535)


def test_errors():
    with pytest.raises(TypeError):
        codec.pack_depth16(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        codec.unpack_depth16(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError):
        codec.to_model_rgbd(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1)), channels=5)
