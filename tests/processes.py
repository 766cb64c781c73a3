"""What the tests' child processes start from (a plain module: no fixtures, safe to import anywhere)."""

import os


def inherited_environment() -> dict[str, str]:
    """This process's environment without Prefect, exportflow or pytest variables."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "EXPORTFLOW_", "PYTEST_"))
    }
