"""The client as a distribution of its own: its wheel needs httpx and pydantic only, and importing it loads
none of the server."""

import json
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"
"""Put there by scripts/bootstrap.sh."""
SERVER_MODULES = {"prefect", "duckdb", "sqlalchemy", "pyarrow", "fastapi", "api", "flows", "deployments"}


def test_the_wheel_holds_the_client_and_requires_httpx_and_pydantic_only(tmp_path: Path) -> None:
    command = [str(UV), "build", "--quiet", "--wheel", str(ROOT / "clients" / "python"), "-o", str(tmp_path)]
    subprocess.run(command, check=True)
    (wheel,) = tmp_path.glob("exportflow_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        requirements = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist", [])

    distributions = {
        re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower() for requirement in requirements
    }
    dist_info = metadata.partition("/")[0]
    assert distributions == {"httpx", "pydantic"}
    assert [name for name in names if not name.startswith(("exportflow_client/", f"{dist_info}/"))] == []


def test_importing_the_client_loads_none_of_the_server(tmp_path: Path) -> None:
    script = "import json, sys; import exportflow_client; print(json.dumps(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout

    assert {name.partition(".")[0] for name in json.loads(loaded)} & SERVER_MODULES == set()
