"""The seed's frontend client (tests/seed_client/exportsService.ts, copied unchanged from the seed's
guide) run by Node against the real stack: every call it makes still gets the envelope it expects.

Needs Node.js and npm (`.ci/run` installs them when missing); the client's packages come from
package-lock.json with `npm ci`, into a copy of the folder under tmp_path.
"""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from flows.vocabulary import Role
from tests.processes import inherited_environment

if TYPE_CHECKING:
    from tests.prefect_stack import MakeStackUser, Stack

pytest_plugins = ["tests.prefect_stack"]
pytestmark = pytest.mark.slow

CLIENT = Path(__file__).parent / "seed_client"
NODE_TIMEOUT_SECONDS = 180


@pytest.fixture(scope="module")
def seed_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed client's folder with its locked packages installed."""
    folder = tmp_path_factory.mktemp("seed-client") / "client"
    shutil.copytree(CLIENT, folder)
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed (apt-get install nodejs npm; .ci/run does it)"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True, timeout=300
    )
    return folder


def test_the_seed_client_works_unchanged(
    stack: "Stack", make_stack_user: "MakeStackUser", seed_client: Path
) -> None:
    user = make_stack_user(Role.ADMIN)
    environment = {
        **inherited_environment(),
        "EXPORTFLOW_API_URL": stack.api_url,
        "EXPORTFLOW_TOKEN": user.token,
    }
    finished = subprocess.run(
        ["npm", "run", "--silent", "drive"],
        cwd=seed_client,
        env=environment,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, finished.stderr
    seen: dict[str, Any] = json.loads(finished.stdout)

    assert all(answer["success"] is True for answer in seen.values()), seen
    assert {entry["export_type"] for entry in seen["types"]["data"]} >= {"sales", "customers"}
    created = seen["created"]["data"]
    assert (created["status"], created["columns"], created["recipients"]) == (
        "pending",
        [],
        ["ana@corp.local"],
    )
    assert seen["status"]["data"]["status"] == "completed"
    export = seen["export"]["data"]
    assert export["record_count"] > 0
    download = seen["download"]["data"]
    body = httpx.get(download["download_url"], timeout=30).content
    assert hashlib.sha256(body).hexdigest() == export["checksum_sha256"] == download["checksum_sha256"]
    assert seen["list"]["pagination"]["limit"] == 5
    assert seen["executed"]["data"]["priority"] == "high"
    assert seen["byType"]["data"]["format"] == "pdf"
    assert seen["cancelled"]["data"]["status"] == "cancelled"
    assert seen["retried"]["data"]["id"] != seen["byType"]["data"]["id"]
    assert "pagination" in seen["schedules"]
    assert seen["statistics"]["data"]["total_exports"] >= 1
    assert seen["templates"]["data"] == [] or "template_name" in seen["templates"]["data"][0]
