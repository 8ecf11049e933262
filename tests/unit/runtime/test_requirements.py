"""The requirements layout: requirements/runtime.in and dev.in are pyproject.toml's dependencies
and `dev` extra, and requirements/lock.txt pins every one of them inside its range."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import tomli

with warnings.catch_warnings():  # packaging 20.9 (rasa's pin) uses pyparsing's old API
    warnings.simplefilter("ignore")
    from packaging.requirements import Requirement

pytestmark = pytest.mark.filterwarnings("ignore:.* deprecated - use")

ROOT = Path(__file__).resolve().parents[3]
REQ = ROOT / "requirements"


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomli.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins = {}
    for line in _lines(REQ / "lock.txt"):
        name, _, version = line.partition("==")
        assert version, f"lock.txt: {line!r} is not an exact pin"
        assert _name(name) not in pins, f"lock.txt pins {name} twice"
        pins[_name(name)] = version
    return pins


def test_the_in_files_are_the_pyproject_dependencies(project):
    assert sorted(_lines(REQ / "runtime.in")) == sorted(project["dependencies"])
    assert sorted(_lines(REQ / "dev.in")) == sorted(project["optional-dependencies"]["dev"])


def test_runtime_and_dev_do_not_overlap_and_dev_tools_are_not_runtime(project):
    runtime = {_name(Requirement(r).name) for r in project["dependencies"]}
    dev = {_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    assert not runtime & dev
    assert {"pytest", "playwright", "ruff", "mypy", "pyinstrument"} <= dev
    assert "rasa" in runtime and not runtime & {"pytest", "playwright", "ruff", "mypy"}


@pytest.mark.parametrize("group", ["dependencies", "dev"])
def test_the_lock_pins_every_direct_dependency_within_its_range(project, lock, group):
    requirements = project["dependencies"] if group == "dependencies" else \
        project["optional-dependencies"]["dev"]
    for text in requirements:
        requirement = Requirement(text)
        version = lock.get(_name(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned in requirements/lock.txt"
        assert requirement.specifier.contains(version, prereleases=True), \
            f"lock.txt pins {requirement.name}=={version}, outside {text!r}"
