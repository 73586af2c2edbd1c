"""The one conftest: where the shared reference data lives, and the fixture plugins in tests/support/.

Helpers shared by several test folders are modules of the `support` package (tests/ is on pytest's
`pythonpath`): `from support.paths import SHARED`, `from support.infer_fixtures import config`.
"""

from support.paths import SHARED

pytest_plugins = ["support.servers", "support.training_data", "support.serve_fixtures"]

__all__ = ["SHARED"]
