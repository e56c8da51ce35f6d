"""CLIP's text encoder and CLIP-ReID's prompt learner: "A photo of a X X X X person." with the four
X tokens replaced by four learned vectors per identity.

Tokenization is fixed: the prompt never changes, so its CLIP BPE token ids are a constant here
(:data:`PERSON_PROMPT_TOKENS`, read off CLIP's tokenizer) instead of a tokenizer and its
vocabulary file.
"""

from __future__ import annotations

import torch
from torch import nn

from .transformer import Transformer

#: CLIP's context length: every prompt is padded to this many tokens.
CONTEXT_LENGTH = 77
#: CLIP BPE ids of "A photo of a X X X X person." with the start (49406) and end (49407) tokens:
#: <start> a photo of a x x x x person . <end>; CLIP's tokenizer pads with 0 to 77 tokens.
PERSON_PROMPT_TOKENS = (49406, 320, 1125, 539, 320, 343, 343, 343, 343, 2533, 269, 49407)
#: Tokens before the identity's learned vectors: <start> a photo of a.
PREFIX_TOKENS = 5
#: Learned vectors per identity (the four X).
CLASS_TOKENS = 4


def prompt_token_ids() -> torch.Tensor:
    """The prompt's 77 token ids (int64), zero-padded as CLIP's tokenizer returns them."""
    ids = torch.zeros(CONTEXT_LENGTH, dtype=torch.long)
    ids[: len(PERSON_PROMPT_TOKENS)] = torch.tensor(PERSON_PROMPT_TOKENS)
    return ids


#: Position of the end token, whose output is the text feature (CLIP takes the argmax id).
EOT_INDEX = len(PERSON_PROMPT_TOKENS) - 1


class TextEncoder(nn.Module):
    """CLIP's text transformer (causal), its final norm and projection.

    Args:
        width, layers, heads: 512, 12, 8 in both CLIP models CLIP-ReID uses.
        output_dim: joint-space size: 512 (ViT-B/16) or 1024 (RN50).
    """

    def __init__(self, width: int = 512, layers: int = 12, heads: int = 8, output_dim: int = 512) -> None:
        super().__init__()
        self.transformer = Transformer(width, layers, heads, causal=True)
        self.positional_embedding = nn.Parameter(torch.empty(CONTEXT_LENGTH, width).normal_(std=0.01))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, output_dim).normal_(std=width**-0.5))

    def forward(self, prompts: torch.Tensor, eot_index: int = EOT_INDEX) -> torch.Tensor:
        """Prompt embeddings ``[B, 77, width]`` -> text features ``[B, output_dim]``."""
        x = self.transformer(prompts + self.positional_embedding.to(prompts.dtype))
        return self.ln_final(x[:, eot_index]) @ self.text_projection


class PromptLearner(nn.Module):
    """Per-identity prompts: fixed token embeddings around ``cls_ctx``, four learned vectors per identity.

    ``token_prefix`` (<start> a photo of a) and ``token_suffix`` (person . <end> and the padding)
    are CLIP's token embeddings of the prompt, buffers saved with the model as CLIP-ReID saves them;
    :func:`reid_clipreid.clip.weights.load_clip_weights` computes them from CLIP's
    ``token_embedding``.
    """

    def __init__(self, num_classes: int, width: int = 512) -> None:
        super().__init__()
        self.cls_ctx = nn.Parameter(torch.empty(num_classes, CLASS_TOKENS, width).normal_(std=0.02))
        self.register_buffer("token_prefix", torch.zeros(1, PREFIX_TOKENS, width))
        self.register_buffer("token_suffix", torch.zeros(1, CONTEXT_LENGTH - PREFIX_TOKENS - CLASS_TOKENS, width))

    @torch.no_grad()
    def set_token_embedding(self, token_embedding: torch.Tensor) -> None:
        """Fill the fixed parts of the prompt from CLIP's token embedding table ``[vocab, width]``."""
        emb = token_embedding[prompt_token_ids()].to(self.token_prefix)
        self.token_prefix.copy_(emb[:PREFIX_TOKENS].unsqueeze(0))
        self.token_suffix.copy_(emb[PREFIX_TOKENS + CLASS_TOKENS :].unsqueeze(0))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """Identity labels ``[B]`` -> prompt embeddings ``[B, 77, width]``."""
        b = labels.shape[0]
        return torch.cat(
            [self.token_prefix.expand(b, -1, -1), self.cls_ctx[labels], self.token_suffix.expand(b, -1, -1)], dim=1
        )
