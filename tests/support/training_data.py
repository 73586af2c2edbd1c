"""Fixture plugin: a tiny synthetic dataset for the training tests."""

from pathlib import Path

import pytest

from support.training_fixtures import write_tiny_dataset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    return root, write_tiny_dataset(root, count=4, seed=0)
