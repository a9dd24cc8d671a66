"""Colour statistics in CIE Lab (wct.metrics): the conversion's fixed points and the distance's axioms."""

from __future__ import annotations

import torch

from wct.metrics import color_transfer_fraction, lab_statistics_distance, rgb_to_lab


def rand(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_lab_of_white_black_and_grey():
    lab = rgb_to_lab(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]).T.reshape(3, 1, 3))
    assert torch.allclose(lab[:, 0, 0], torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(lab[:, 0, 1], torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert abs(float(lab[0, 0, 2]) - 53.389) < 0.01 and lab[1:, 0, 2].abs().max() < 1e-9  # sRGB 0.5 grey: L* 53.39


def test_lab_of_srgb_red_is_the_published_value():
    lab = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)).flatten()
    assert torch.allclose(lab, torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.02)


def test_distance_to_itself_is_zero_and_the_distance_is_symmetric():
    a, b = rand((2, 3, 20, 24), 0), rand((2, 3, 16, 30), 1) ** 2  # sizes may differ
    assert torch.allclose(lab_statistics_distance(a, a), torch.zeros(2, dtype=torch.float64), atol=1e-5)
    assert (lab_statistics_distance(a, b) > 1).all()
    assert torch.allclose(lab_statistics_distance(a, b), lab_statistics_distance(b, a), rtol=1e-9)


def test_distance_of_flat_images_is_their_lab_distance():
    a, b = torch.full((3, 4, 4), 0.2), torch.tensor([0.9, 0.5, 0.1]).view(3, 1, 1).expand(3, 5, 5)
    expected = (rgb_to_lab(a)[:, 0, 0] - rgb_to_lab(b)[:, 0, 0]).norm()
    assert torch.allclose(lab_statistics_distance(a, b), expected, rtol=1e-6)


def test_transfer_fraction_is_zero_for_the_content_and_one_for_the_style():
    content, style = rand((3, 20, 20), 2), rand((3, 20, 20), 3) ** 3
    assert abs(float(color_transfer_fraction(content, content, style))) < 1e-6
    assert abs(float(color_transfer_fraction(style, content, style)) - 1) < 1e-6
    halfway = float(color_transfer_fraction(0.5 * (content + style), content, style))
    assert 0.2 < halfway < 0.8
