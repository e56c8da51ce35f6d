"""Griffe extension: show the Sphinx-style roles of reid-zoo docstrings as code.

Docstrings say ``:func:`reid_core.load``` (readable in the source and in ``help()``); Markdown
would print the role literally, so it becomes `` `reid_core.load` `` when the API pages are built.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|const):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite ``:role:`target``` to a code span of the target's name."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = _ROLE.sub(lambda m: f"`{m.group(1)}`", obj.docstring.value)
