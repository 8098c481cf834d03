"""Which build of gnotifier runs: its compiled modules, or the pure-Python ones.

An install with a C compiler has each hot module twice: the ``.py`` source
and an extension compiled from it by Cython, which Python imports first.
``GNOTIFIER_PURE_PYTHON=1`` in the environment (as gevent's ``PURE_PYTHON``)
makes gnotifier import the ``.py`` sources instead. Imported by the
package before any other of its modules; never compiled itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from typing import Sequence

__all__ = ["PURE_PYTHON", "is_compiled"]

PURE_PYTHON = bool(os.environ.get("GNOTIFIER_PURE_PYTHON"))
_PACKAGE = __name__.rpartition(".")[0]


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Finds gnotifier's own modules as ``.py`` sources, ahead of any extension."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != _PACKAGE or not path:
            return None
        for entry in path:
            source = os.path.join(entry, name + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


if PURE_PYTHON:
    sys.meta_path.insert(0, _SourcesFirst())


def is_compiled(module: object) -> bool:
    """Whether ``module`` was loaded from a compiled extension."""
    return not str(getattr(module, "__file__", "") or "").endswith(".py")
