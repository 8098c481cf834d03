"""The build that runs is the one installed: compiled modules, or pure Python on request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import gnotifier

COMPILED_MODULES = (
    "_dispatch",
    "_follow",
    "_notifier",
    "_outcome",
    "_pool",
    "_promise",
    "_queue",
    "_threads",
    "_threadsafe",
    "_worker",
)


@pytest.mark.skipif("GNOTIFIER_EXPECT_BUILD" not in os.environ, reason="tox says which build it installed")
def test_the_installed_build_is_the_one_that_runs() -> None:
    expected = os.environ["GNOTIFIER_EXPECT_BUILD"]
    running = "compiled" if gnotifier._compiled else "pure-Python"
    assert running == expected


def test_pure_python_on_request_imports_every_module_from_its_source() -> None:
    code = (
        "import importlib, gnotifier\n"
        f"names = {COMPILED_MODULES!r}\n"
        "files = [importlib.import_module('gnotifier.' + n).__file__ for n in names]\n"
        "print(gnotifier._compiled, all(f.endswith('.py') for f in files))\n"
    )
    env = {**os.environ, "GNOTIFIER_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "True"]
