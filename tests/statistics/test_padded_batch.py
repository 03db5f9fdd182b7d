"""Padded batches: the network's own fill and divisor, and each image's chain cut back to the
maps it has alone (same sizes and grids as an unbatched run, nothing of the padding kept)."""

from __future__ import annotations

import torch

from deformviz.geometry import MapGrid
from deformviz.networks import bundled_network
from deformviz.statistics import NetworkChain
from deformviz.statistics.padded_batch import InputPadding, own_chain, own_map_size, pad_batch


def _bundled(model) -> NetworkChain:
    return NetworkChain(bundled_network(model, "test-model", long_side=128), "test-model")


def test_pad_batch_rounds_up_to_the_divisor_and_fills_bottom_and_right():
    small = torch.full((1, 3, 20, 33), 2.0)
    tall = torch.full((1, 3, 40, 16), 3.0)
    batch = pad_batch([small, tall], InputPadding(16, (0.1, 0.2, 0.3)))
    assert batch.shape == (2, 3, 48, 48)
    assert torch.equal(batch[0, :, :20, :33], small[0]) and torch.equal(batch[1, :, :40, :16], tall[0])
    fill = torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)
    assert torch.equal(batch[0, :, 20:, :], fill.expand(3, 28, 48))
    assert torch.equal(batch[0, :, :20, 33:], fill.expand(3, 20, 15))
    assert torch.equal(batch[1, :, :, 16:], fill.expand(3, 48, 32))


def test_own_map_size_counts_cells_centred_on_the_image_and_refuses_odd_sides():
    assert own_map_size(MapGrid(32, 0), (800, 1088), (40, 40)) == (25, 34)
    assert own_map_size(MapGrid(16, 15), (96, 128), (8, 8)) == (6, 8)  # the bundled trunk's grid
    assert own_map_size(MapGrid(16, 15), (96, 100), (8, 8)) is None  # 100 is no multiple of 16


def test_own_chain_equals_the_unbatched_chain_in_size_and_grid(test_model):
    network = _bundled(test_model)
    generator = torch.Generator().manual_seed(0)
    small = torch.rand(1, 3, 64, 112, generator=generator)
    large = torch.rand(1, 3, 128, 128, generator=generator)
    with torch.no_grad():
        batched = network.chains(pad_batch([small, large], network.input_padding))
        alone = [network.chain(small), network.chain(large)]
    for image, own_size in ((0, (64, 112)), (1, (128, 128))):
        own = own_chain(batched[image], own_size)
        assert own is not None
        for cut, single in zip(own, alone[image]):
            assert cut.output_size == single.output_size and cut.input_size == single.input_size
            assert (cut.input_grid, cut.output_grid) == (single.input_grid, single.output_grid)
            cut.check(0)
    # The image as large as the batch meets the network as alone (up to batched rounding).
    for cut, single in zip(own_chain(batched[1], (128, 128)), alone[1]):
        torch.testing.assert_close(cut.offset, single.offset, rtol=1e-4, atol=1e-5)
    # The smaller one's offsets are the network's on the padded input: they differ somewhere
    # (the padding reaches its activations), which is why its units are cut back, not copied.
    top = own_chain(batched[0], (64, 112))[-1]
    assert not torch.allclose(top.offset, alone[0][-1].offset, rtol=1e-4, atol=1e-5)


def test_own_chain_refuses_sizes_the_batch_cannot_give(test_model):
    network = _bundled(test_model)
    with torch.no_grad():
        batched = network.chains(torch.rand(1, 3, 128, 128))
    assert own_chain(batched[0], (128, 120)) is None  # the image would run alone


def test_bundled_network_pads_with_what_normalises_to_zero(test_model):
    network = _bundled(test_model)
    assert network.input_padding == InputPadding(16, (0.5, 0.5, 0.5))
    padded = pad_batch([torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 32, 32)], network.input_padding)
    assert torch.equal(test_model.trunk.normalize(padded)[0, :, 16:, :], torch.zeros(3, 16, 32))
