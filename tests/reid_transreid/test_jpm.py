"""Token bookkeeping: the JPM rearrangement and the token-to-map reshape used by Grad-CAM."""

import pytest
import torch

from reid_transreid import reshape_tokens
from reid_transreid.jpm import shift_and_shuffle


def ids(n_patches: int) -> torch.Tensor:
    # Token i carries the value i in every channel; token 0 is the class token.
    return torch.arange(n_patches + 1, dtype=torch.float32).view(1, -1, 1).expand(2, -1, 3)


@pytest.mark.parametrize(
    ("n", "shift", "groups", "expected"),
    [
        # shift 2: [2 3 4 5 6 1]; halves [2 3 4] [5 6 1] interleaved
        (6, 2, 2, [2, 5, 3, 6, 4, 1]),
        # TransReID's shift 5: [5..10 1..4]; halves [5..9] [10 1 2 3 4]
        (10, 5, 2, [5, 10, 6, 1, 7, 2, 8, 3, 9, 4]),
        # odd count: [2 3 4 5 1] padded with the second-to-last token (5) to [2 3 4 5 1 5]
        (5, 2, 2, [2, 5, 3, 1, 4, 5]),
    ],
)
def test_shift_and_shuffle_order(n, shift, groups, expected):
    out = shift_and_shuffle(ids(n), shift, groups)
    assert out.shape == (2, len(expected), 3)
    assert out[0, :, 0].tolist() == expected
    assert torch.equal(out[1], out[0])


def test_reshape_tokens_lays_patches_row_major():
    rows, cols = 3, 2
    tokens = ids(rows * cols)
    fmap = reshape_tokens(tokens, (rows, cols))
    assert fmap.shape == (2, 3, rows, cols)
    # patch k (token k + 1) sits at row k // cols, column k % cols, in every channel
    assert fmap[0, 1].tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_reshape_tokens_rejects_a_grid_larger_than_the_tokens():
    with pytest.raises(ValueError, match="4x2 grid"):
        reshape_tokens(ids(6), (4, 2))
