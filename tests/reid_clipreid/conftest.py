"""A tiny synthetic dataset and a fake OpenAI CLIP file shared by the CLIP-ReID tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from reid_core.data.synthetic import ensure_dataset
from torch import nn

from reid_clipreid.clip.text import TextEncoder
from reid_clipreid.clip.vision import ModifiedResNet, VisionTransformer

#: identities of the tiny dataset: half of them (8) train
NUM_IDS = 16
#: CLIP's vocabulary size (rows of token_embedding)
VOCAB = 49408


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parent folder of a 16-identity synthetic dataset, generated once per session."""
    root = tmp_path_factory.getbasetemp() / "clipreid_datasets"
    ensure_dataset(num_ids=NUM_IDS, root=root)
    return root


class FakeCLIP(nn.Module):
    """OpenAI's CLIP layout (``visual``, ``transformer``, ``token_embedding``, ...) at OpenAI's
    pretraining sizes (224x224, stride 32 for RN50), with random weights and fewer blocks."""

    def __init__(self, backbone: str, layers: int = 2, text_layers: int = 1) -> None:
        super().__init__()
        if backbone == "vit":
            self.visual = VisionTransformer((224, 224), 16, layers=layers)
            out = 512
        else:
            # OpenAI's RN50 at 224: a 7x7 final map, so 50 attention-pool positions.
            self.visual = ModifiedResNet((112, 112))
            out = 1024
        text = TextEncoder(layers=text_layers, output_dim=out)
        self.transformer = text.transformer
        self.positional_embedding = text.positional_embedding
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.token_embedding = nn.Embedding(VOCAB, 512)
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.logit_scale


def fake_clip_file(path: Path, backbone: str = "vit", *, torchscript: bool = False, **kwargs) -> dict:
    """Write a fake CLIP file (plain state dict, or a TorchScript archive like OpenAI's); return its state dict."""
    torch.manual_seed(1)
    model = FakeCLIP(backbone, **kwargs).eval()
    if torchscript:
        with warnings.catch_warnings():  # torch.jit is deprecated, and OpenAI's files are TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.trace(model, torch.zeros(1)).save(str(path))
    else:
        torch.save(model.state_dict(), path)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
