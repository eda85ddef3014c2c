"""The project's own files agree with each other."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_name(spec):
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, str) and entry.split(">")[0].split("=")[0] not in {"python", "pip"}:
            conda[requirement_name(entry)] = entry
        if isinstance(entry, dict):  # what conda-forge does not have, from PyPI (the project itself left out)
            conda.update({requirement_name(spec): spec for spec in entry.get("pip", []) if not spec.startswith("-e")})
    pip = {requirement_name(spec): spec for spec in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert set(conda) == set(pip), \
        f"only in environment.yml: {set(conda) - set(pip)}; only in pyproject: {set(pip) - set(conda)}"
    for name, spec in pip.items():
        assert spec.replace(" ", "") == conda[name].replace(" ", ""), \
            f"{name}: pyproject says {spec}, environment.yml {conda[name]}"


def test_the_readme_quick_start_and_ci_use_the_make_targets():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo:", "test:", "bench:"):
        assert re.search(rf"^{target}", makefile, re.M), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_fixed_top_level_layout_exists():
    for name in ["README.md", "environment.yml", "pyproject.toml", "Makefile", "assignments", "source_notebooks",
                 "reference_impl", "autograder", "release", "tests", "benchmarks", "examples", ".ci/run"]:
        assert (ROOT / name).exists(), name
