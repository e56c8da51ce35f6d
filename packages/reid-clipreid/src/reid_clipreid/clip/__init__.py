"""OpenAI CLIP pieces CLIP-ReID builds on, under CLIP's parameter names."""
