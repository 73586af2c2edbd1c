"""The bundled recipes are package data: a wheel built from the repository holds them, and `config_path` finds
them by name from an install of that wheel (no checkout, no editable install). The repository path
configs/det/ch_PP-OCRv3/ keeps working through its link to the package folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from det_model.config import config_path, load_config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ("ch_PP-OCRv3_det_cml.yml", "ch_PP-OCRv3_det_dml.yml", "ch_PP-OCRv3_det_student.yml")
# What a wheel build reads from the repository.
SOURCES = ("pyproject.toml", "README.md", "det_model", "components", "pipelines")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (the build writes build/ and egg-info next to them)."""
    tmp = tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(src, tmp / "src" / name, ignore=skip)
        else:
            (tmp / "src").mkdir(exist_ok=True)
            shutil.copy(src, tmp / "src" / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp / "dist"), str(tmp / "src")],
        check=True,
    )
    (built,) = (tmp / "dist").glob("det_model-*.whl")
    return built


def test_wheel_holds_the_recipes(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"det_model/config/recipes/{r}" for r in RECIPES} <= names


def test_installed_wheel_finds_recipes_by_name(wheel: Path, tmp_path: Path) -> None:
    """Unpacked into a folder of its own (what pip does for a pure-Python wheel) and imported from there."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import det_model.config as c\n"
        "for name in %r:\n"
        "    path = c.config_path(name)\n"
        "    assert str(path).startswith(%r), path\n"
        "    print(c.load_config(path).Architecture.name)\n" % (RECIPES, str(site))
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["DistillationModel", "DistillationModel", "BaseModel"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_repository_path_still_loads(recipe: str) -> None:
    path = ROOT / "configs" / "det" / "ch_PP-OCRv3" / recipe
    assert load_config(path).source == str(path)
    assert config_path(recipe).resolve() == path.resolve()
