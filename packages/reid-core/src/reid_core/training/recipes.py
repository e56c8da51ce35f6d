"""Per-family training recipes: which config overrides reproduce the upstream recipe of a model.

A family ships ``recipes.yaml`` as package data::

    recipes:
      bagtricks: {SOLVER: {BASE_LR: 0.00035, ...}, LOSS: {...}}
    models:              # fnmatch pattern -> recipe; the first match wins
      "sbs_*": sbs
      "*": bagtricks
"""

from __future__ import annotations

import fnmatch
from importlib import resources
from typing import Any

import yaml

from ..errors import RegistryError
from ..registry import REGISTRY


def family_recipes(module: str) -> dict[str, Any]:
    """The parsed ``recipes.yaml`` of a family module (empty when it ships none)."""
    try:
        text = resources.files(module).joinpath("recipes.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"recipes": {}, "models": {}}
    data = yaml.safe_load(text) or {}
    if not isinstance(data.get("recipes", {}), dict) or not isinstance(data.get("models", {}), dict):
        raise RegistryError(f"{module}/recipes.yaml: expected mappings 'recipes' and 'models'")
    return {"recipes": data.get("recipes") or {}, "models": data.get("models") or {}}


def recipe_for(model: str) -> tuple[str, dict[str, Any]]:
    """``(recipe name, config overrides)`` for ``model``; ``("default", {})`` when the family has none."""
    family, _ = REGISTRY.lookup(model)
    data = family_recipes(family.module)
    for pattern, name in data["models"].items():
        if fnmatch.fnmatchcase(model, pattern):
            if name not in data["recipes"]:
                raise RegistryError(f"{family.module}/recipes.yaml maps {pattern!r} to unknown recipe {name!r}")
            return name, data["recipes"][name] or {}
    return "default", {}
