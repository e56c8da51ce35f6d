"""The token rearrangement of TransReID's Jigsaw Patch Module (shift, then patch shuffle)."""

from __future__ import annotations

import torch


def shift_and_shuffle(tokens: torch.Tensor, shift: int, groups: int) -> torch.Tensor:
    """Rearrange the patch tokens of ``tokens`` ``[B, 1 + N, C]`` (class token first) into ``[B, M, C]``.

    The shift moves the first ``shift - 1`` patches to the end; the shuffle splits the sequence
    into ``groups`` equal chunks and interleaves them (chunk-major to position-major). When ``N``
    does not divide by ``groups``, the second-to-last token is repeated until it does, as
    TransReID does, so ``M`` is ``N`` rounded up to a multiple of ``groups``.
    """
    batch, _, dim = tokens.shape
    # TransReID slices from index `shift` and wraps `1 : shift`; the class token (index 0) drops out.
    x = torch.cat((tokens[:, shift:], tokens[:, 1:shift]), dim=1)
    short = -x.shape[1] % groups
    if short:
        x = torch.cat([x] + [x[:, -2:-1]] * short, dim=1)
    return x.view(batch, groups, -1, dim).transpose(1, 2).reshape(batch, -1, dim)
