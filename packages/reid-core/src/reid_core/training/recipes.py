"""Per-family training recipes: which config overrides reproduce the upstream recipe of a model.

A family ships ``recipes.yaml`` as package data::

    recipes:
      bagtricks: {SOLVER: {BASE_LR: 0.00035, ...}, LOSS: {...}}
      sbs: {_BASE_: bagtricks, SOLVER: {SCHED: cosine, ...}}   # bagtricks, then these changes
    models:              # fnmatch pattern -> recipe; the first match wins
      "sbs_*": sbs
      "*": bagtricks

A recipe is a nested mapping of config overrides (see :mod:`reid_core.training.config`). The key
``_BASE_`` names another recipe of the same file that it starts from (fast-reid's convention).
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


def recipe_for(model: str, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(recipe name, config overrides)`` for ``model``; ``("default", {})`` when the family has none.

    ``name`` picks another recipe of the model's family (e.g. a second training stage) instead of
    the one its ``models`` mapping gives.
    """
    family, _ = REGISTRY.lookup(model)
    data = family_recipes(family.module)
    if name:
        if name not in data["recipes"]:
            known = ", ".join(sorted(data["recipes"])) or "none"
            raise RegistryError(f"{family.package} has no recipe {name!r}; its recipes: {known}")
        return name, resolve_recipe(data["recipes"], name, family.module)
    for pattern, name in data["models"].items():
        if fnmatch.fnmatchcase(model, pattern):
            return name, resolve_recipe(data["recipes"], name, family.module)
    return "default", {}


def resolve_recipe(recipes: dict[str, Any], name: str, where: str = "recipes.yaml") -> dict[str, Any]:
    """The overrides of recipe ``name`` with its ``_BASE_`` chain merged in (the recipe's own values win)."""
    chain: list[str] = []
    while name:
        if name in chain:
            raise RegistryError(f"{where}/recipes.yaml: recipes {' -> '.join(chain + [name])} form a cycle")
        if name not in recipes:
            raise RegistryError(f"{where}/recipes.yaml refers to unknown recipe {name!r}")
        chain.append(name)
        name = (recipes[name] or {}).get("_BASE_", "")
    merged: dict[str, Any] = {}
    for link in reversed(chain):
        merged = _deep_merge(merged, {k: v for k, v in (recipes[link] or {}).items() if k != "_BASE_"})
    return merged


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
