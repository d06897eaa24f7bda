"""The declared public API (usage_rollup/__init__.py): every name resolves, and importing the
package is cheap and needs no settings."""

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import usage_rollup

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", usage_rollup.__all__)
def test_every_public_name_is_the_object_its_module_defines(name):
    value = getattr(usage_rollup, name)

    module = sys.modules[value.__module__]
    assert module.__name__.startswith("usage_rollup.")
    assert getattr(module, name) is value


def test_no_public_name_is_also_a_module_of_the_package():
    # `from usage_rollup import verify` finds the package's attribute before the submodule: one
    # name cannot be both, so a public function never shares its name with a module.
    modules = {module.name for module in pkgutil.iter_modules(usage_rollup.__path__)}

    assert modules & set(usage_rollup.__all__) == set()


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'tock'"):
        usage_rollup.tock  # noqa: B018


def test_importing_the_package_needs_no_settings_and_loads_no_django():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    probe = "import sys, usage_rollup; print(sorted(m for m in sys.modules if m[:6] == 'django'))"

    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def test_the_package_is_marked_typed():
    assert (REPO / "usage_rollup" / "py.typed").is_file()
