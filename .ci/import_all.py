"""Import every scorer module, as a user's install (no dev group) has them.

A module that imports a test-only package (httpx, pytest, ...) fails here
instead of on a user's first batch. ``scorer.ray`` needs the ``ray`` extra.
"""

import importlib
import pkgutil

import scorer

for module in pkgutil.walk_packages(scorer.__path__, "scorer."):
    if module.name != "scorer.__main__" and not module.name.startswith("scorer.ray"):
        importlib.import_module(module.name)
print("scorer: every module imports without the dev group")
