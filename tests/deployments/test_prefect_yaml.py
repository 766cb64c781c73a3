"""prefect.yaml: its deployments load, and the export deployment carries no schedules key."""

from pathlib import Path

import yaml
from prefect.flows import Flow, load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]


def test_every_entrypoint_loads_the_named_flow() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        path, _, function = deployment["entrypoint"].partition(":")
        loaded: Flow[..., object] = load_flow_from_entrypoint(f"{ROOT / path}:{function}")
        assert loaded.name == deployment["name"]


def test_the_export_deployment_has_no_schedules_key() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (export,) = [item for item in config["deployments"] if item["name"] == "export"]
    assert "schedules" not in export
