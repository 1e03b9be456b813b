"""Corner pooling: the four directions on a hand 4x4 case (values and arg-max gradients with
ties), both implementations against the O(W^2) reference loop on random tensors and against
CornerNet's compiled pools (their C++ loop, transcribed), and the corner-pooling module."""

import pytest
import torch

from anchorfree.cornernet.corner_pooling import (
    GRAPH_SCAN_BLOCK,
    CornerPooling,
    _cummax_scan_max,
    _graph_scan_max,
    _SliceScanMax,
    bottom_pool,
    left_pool,
    right_pool,
    top_pool,
)
from tools.parity.reference_ops import corner_pool_reference

ROWS, COLS = 2, 3


def reference_pool(x: torch.Tensor, dim: int, reverse: bool) -> torch.Tensor:
    """
    The O(L^2) loop: at every position a fresh ``max`` over its window along ``dim`` (positions
    i..L-1 when ``reverse``, else 0..i). The window is ordered outward from the output position,
    so ``torch.max``'s first-maximal-index rule sends the gradient to the nearest tied maximum.
    """
    length = x.shape[dim]
    outputs = []
    for i in range(length):
        if reverse:
            window = x.narrow(dim, i, length - i)
        else:
            window = x.narrow(dim, 0, i + 1).flip(dim)
        outputs.append(window.max(dim).values)
    return torch.stack(outputs, dim)


# name -> (public function, dim, reverse)
DIRECTIONS = {
    "top": (top_pool, ROWS, True),
    "left": (left_pool, COLS, True),
    "bottom": (bottom_pool, ROWS, False),
    "right": (right_pool, COLS, False),
}
IMPLEMENTATIONS = {
    "public": lambda name, x: DIRECTIONS[name][0](x),
    "cummax": lambda name, x: _cummax_scan_max(x, *DIRECTIONS[name][1:]),
    "slices": lambda name, x: _SliceScanMax.apply(x, *DIRECTIONS[name][1:]),
}

# Column 0 has a tie between rows 1 and 3, row 1 a tie between columns 2 and 3.
HAND_INPUT = [
    [1, 5, 2, 0],
    [3, 0, 4, 4],
    [2, 6, 1, 3],
    [3, 2, 7, 1],
]
# Per direction: the pooled output, and the input gradient for an all-ones output gradient
# (how many outputs take their value from each input; ties go to the nearest element).
HAND_EXPECTED = {
    "top": (
        [[3, 6, 7, 4], [3, 6, 7, 4], [3, 6, 7, 3], [3, 2, 7, 1]],
        [[0, 0, 0, 0], [2, 0, 0, 2], [0, 3, 0, 1], [2, 1, 4, 1]],
    ),
    "bottom": (
        [[1, 5, 2, 0], [3, 5, 4, 4], [3, 6, 4, 4], [3, 6, 7, 4]],
        [[1, 2, 1, 1], [2, 0, 2, 3], [0, 2, 0, 0], [1, 0, 1, 0]],
    ),
    "left": (
        [[5, 5, 2, 0], [4, 4, 4, 4], [6, 6, 3, 3], [7, 7, 7, 1]],
        [[0, 2, 1, 1], [0, 0, 3, 1], [0, 2, 0, 2], [0, 0, 3, 1]],
    ),
    "right": (
        [[1, 5, 5, 5], [3, 3, 4, 4], [2, 6, 6, 6], [3, 3, 7, 7]],
        [[1, 3, 0, 0], [2, 0, 1, 1], [1, 3, 0, 0], [2, 0, 2, 0]],
    ),
}


def pooled_and_grad(fn, x: torch.Tensor, grad_out: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    out.backward(grad_out)
    return out.detach(), x.grad


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_hand_case(direction, impl):
    x = torch.tensor(HAND_INPUT, dtype=torch.float32)[None, None]
    out, grad = pooled_and_grad(
        lambda t: IMPLEMENTATIONS[impl](direction, t), x, torch.ones_like(x)
    )
    expected_out, expected_grad = HAND_EXPECTED[direction]
    assert torch.equal(out[0, 0], torch.tensor(expected_out, dtype=torch.float32))
    assert torch.equal(grad[0, 0], torch.tensor(expected_grad, dtype=torch.float32))


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_hand_case_reference(direction):
    """The reference loop agrees with the hand values too, so it is a fair reference."""
    _, dim, reverse = DIRECTIONS[direction]
    x = torch.tensor(HAND_INPUT, dtype=torch.float32)[None, None]
    out, grad = pooled_and_grad(lambda t: reference_pool(t, dim, reverse), x, torch.ones_like(x))
    expected_out, expected_grad = HAND_EXPECTED[direction]
    assert torch.equal(out[0, 0], torch.tensor(expected_out, dtype=torch.float32))
    assert torch.equal(grad[0, 0], torch.tensor(expected_grad, dtype=torch.float32))


@pytest.mark.parametrize("values", ["integers", "continuous"])
@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_matches_reference_loop(direction, impl, values):
    """Equal outputs and gradients; integer inputs in [0, 4) make ties everywhere, and integer
    output gradients make every gradient sum exact, whatever the summation order."""
    generator = torch.Generator().manual_seed(0)
    shape = (2, 3, 7, 9)
    if values == "integers":
        x = torch.randint(0, 4, shape, generator=generator).float()
    else:
        x = torch.randn(shape, generator=generator)
    grad_out = torch.randint(-3, 4, shape, generator=generator).float()
    _, dim, reverse = DIRECTIONS[direction]
    expected_out, expected_grad = pooled_and_grad(
        lambda t: reference_pool(t, dim, reverse), x, grad_out
    )
    out, grad = pooled_and_grad(lambda t: IMPLEMENTATIONS[impl](direction, t), x, grad_out)
    assert torch.equal(out, expected_out)
    assert torch.equal(grad, expected_grad)


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_same_as_cornernets_compiled_pools(direction):
    """Each pool is CornerNet's pool of the same name (models/py_utils/_cpools: the C++ loop,
    transcribed in tools/parity/reference_ops.py), in every implementation."""
    x = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(1))
    expected = corner_pool_reference(x, direction)
    for impl in IMPLEMENTATIONS.values():
        assert torch.equal(impl(direction, x), expected)


@pytest.mark.parametrize("length", [1, GRAPH_SCAN_BLOCK - 1, GRAPH_SCAN_BLOCK, 17, 130])
@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_graph_form_equals_the_reference(direction, length):
    """The exported graph's blocked doubling scan: the reference's values at lengths below,
    at and across the block length, with ties (integer inputs) along both axes."""
    _, dim, reverse = DIRECTIONS[direction]
    shape = [2, 3, 5, 6]
    shape[dim] = length
    x = torch.randint(0, 4, shape, generator=torch.Generator().manual_seed(length)).float()
    assert torch.equal(_graph_scan_max(x, dim, reverse), reference_pool(x, dim, reverse))


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_channels_last_and_no_grad(direction):
    """Any memory layout gives the same values and gradients; without autograd, the same
    values."""
    fn = DIRECTIONS[direction][0]
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 3, (2, 4, 5, 6), generator=generator).float()
    grad_out = torch.randint(-2, 3, x.shape, generator=generator).float()
    expected_out, expected_grad = pooled_and_grad(fn, x, grad_out)
    out, grad = pooled_and_grad(fn, x.contiguous(memory_format=torch.channels_last), grad_out)
    assert torch.equal(out, expected_out)
    assert torch.equal(grad, expected_grad)
    with torch.no_grad():
        assert torch.equal(fn(x), expected_out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
def test_cuda_matches_cpu(direction):
    fn = DIRECTIONS[direction][0]
    generator = torch.Generator().manual_seed(2)
    x = torch.randint(0, 4, (2, 8, 33, 47), generator=generator).float()
    grad_out = torch.randint(-3, 4, x.shape, generator=generator).float()
    expected_out, expected_grad = pooled_and_grad(fn, x, grad_out)
    out, grad = pooled_and_grad(fn, x.cuda(), grad_out.cuda())
    assert torch.equal(out.cpu(), expected_out)
    assert torch.equal(grad.cpu(), expected_grad)


@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_module_shape_and_gradients(corner):
    torch.manual_seed(0)
    module = CornerPooling(16, corner, pool_channels=8)
    x = torch.randn(2, 16, 9, 11, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_module_looks_toward_the_object(corner):
    """
    Output (0, 0) of a top-left module sees far down its columns and right along its rows; of a
    bottom-right module only its 3x3 convs' neighbourhood (the three 3x3 convs on each path
    reach 3 cells). Eval mode, so BatchNorm does not couple positions.
    """
    torch.manual_seed(0)
    module = CornerPooling(8, corner, pool_channels=8).eval()
    x = torch.randn(1, 8, 16, 16, requires_grad=True)
    module(x)[0, :, 0, 0].sum().backward()
    reach = x.grad.abs().sum(dim=(0, 1)) > 0
    assert not reach[4:, 4:].any()
    if corner == "top_left":
        assert reach[4:, :4].any() and reach[:4, 4:].any()
    else:
        assert not reach[4:].any() and not reach[:, 4:].any()


def test_module_rejects_unknown_corner():
    with pytest.raises(ValueError, match="corner"):
        CornerPooling(16, "top_right")
