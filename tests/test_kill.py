"""kill -9 in the middle of an export, through the real stack (tests/prefect_stack.py): the flow-run
process, the worker, or both. Whatever dies, within a minute the row is out of `processing`, the
export completed on a later attempt (or failed saying why), no file of the dead attempt is left
under a final key, and no recipient got two emails for it.

The stack runs with a 10 s heartbeat lease and the API reconciling every 2 s. The time from the
kill to the corrected row is measured and printed in the terminal summary.
"""

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING

import pytest
from prefect.client.schemas.objects import StateType
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, session_factory
from flows.appdb.models import DataExport
from flows.export import WRITE
from flows.storage.keys import TEMP_DIR
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus, Role
from tests.app_rows import audit_of, wait_for_row

if TYPE_CHECKING:
    from tests.prefect_stack import MakeStackUser, Stack, Timings

pytest_plugins = ["tests.prefect_stack"]
pytestmark = pytest.mark.slow

WITHIN_SECONDS = 60.0
"""From the kill to the row out of `processing` for good (completed or failed)."""
RECIPIENTS = ["ops@example.com", "finance@example.com"]
STAGED_FILES_GONE_SECONDS = 10.0
MAIL_SETTLE_SECONDS = 10.0
"""How long the messages of a completed export may take to reach the outbox."""
CRASHED = "the flow run crashed (attempt 1 of 3)"
SILENT = "no heartbeat for "  # 7.5-12 s: a 10 s lease, beats every 2.5 s, a pass every 2 s
EXPECTED_REASONS = {
    "flow-run process": (CRASHED,),  # the worker's crash hook, or the reconciler reading CRASHED
    # The orphaned flow-run process (its output goes to the worker's log file, not a pipe) usually
    # finishes its attempt; if it dies it reports CRASHED itself or, stuck, stops beating.
    "worker": (CRASHED, SILENT),
    "worker and flow-run process": (SILENT,),
}


@pytest.fixture(scope="module")
def sessions(stack: "Stack") -> Iterator[sessionmaker[Session]]:
    engine = make_engine(stack.settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def start_long_export(stack: "Stack", make_stack_user: "MakeStackUser", name: str) -> uuid.UUID:
    """A PDF of the 200k-row warehouse (~20 s of rendering on two cores), created over HTTP."""
    manager = make_stack_user(Role.MANAGER)
    body = {"export_name": name, "export_type": "sales", "format": "pdf", "recipients": RECIPIENTS}
    with stack.client() as http:
        response = http.post("/exports", json=body, headers=manager.headers)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


def emails_about(stack: "Stack", name: str) -> Counter[str]:
    """Emails in the stack's outbox about the export named `name`, counted per recipient."""
    parse = BytesParser(policy=policy.default).parsebytes
    sent: Counter[str] = Counter()
    for path in sorted((stack.settings.home / "outbox").glob("*.eml")):
        message = parse(path.read_bytes())
        if str(message["Subject"]).endswith(f": {name}"):
            sent.update(address.strip() for address in str(message["To"]).split(","))
    return sent


@pytest.mark.parametrize("victim", ["flow-run process", "worker", "worker and flow-run process"])
def test_kill_9_mid_export_leaves_no_row_processing(
    stack: "Stack",
    make_stack_user: "MakeStackUser",
    sessions: sessionmaker[Session],
    timings: "Timings",
    victim: str,
) -> None:
    name = f"Kill {victim} {uuid.uuid4().hex[:6]}"
    export_id = start_long_export(stack, make_stack_user, name)
    rendering = wait_for_row(
        sessions, export_id, lambda row: row.progress_percentage > WRITE.start + 5, timeout=WITHIN_SECONDS
    )
    dead_run = rendering.flow_run_id
    assert dead_run is not None
    (flow_process,) = stack.flow_run_processes(str(dead_run))

    killed = time.monotonic()
    if victim != "flow-run process":
        stack.worker.kill()  # first: a live worker would see its flow-run process die and report it
    if victim != "worker":
        flow_process.kill()
    if victim != "flow-run process":
        stack.start_worker()  # as a supervisor would

    corrected = wait_for_row(
        sessions,
        export_id,
        lambda row: row.flow_run_id != dead_run or row.status != "processing",
        WITHIN_SECONDS,
    )
    timings[f"kill -9 {victim} -> row corrected"] = time.monotonic() - killed
    final = wait_for_row(
        sessions,
        export_id,
        lambda row: row.status in (ExportStatus.COMPLETED, ExportStatus.FAILED),
        WITHIN_SECONDS - (time.monotonic() - killed),
    )
    timings[f"kill -9 {victim} -> {final.status} (attempt {final.attempt})"] = time.monotonic() - killed

    assert final.status == ExportStatus.COMPLETED, final.error_message
    reattempts = audit_of(sessions, export_id, "export_reattempted")
    assert len(reattempts) == final.attempt - 1
    if victim != "worker":
        assert final.attempt == 2
    if reattempts:
        (decision,) = reattempts
        assert decision.details["flow_run_id"] == str(dead_run)
        assert decision.details["reason"].startswith(EXPECTED_REASONS[victim])
        with stack.prefect_client() as client:
            dead_state = client.read_flow_run(dead_run).state
        assert dead_state is not None
        assert dead_state.type == StateType.CRASHED
    else:  # the same attempt finished
        assert corrected.flow_run_id == dead_run
    assert final.record_count == 200_000
    _assert_only_the_final_file_is_stored(stack, final)
    # One each, not one per attempt. The row completes before its messages (one a recipient) are
    # sent, so they are waited for; none come if a process died between completing the row and mailing.
    expected = Counter(RECIPIENTS)
    deadline = time.monotonic() + MAIL_SETTLE_SECONDS
    while (sent := emails_about(stack, name)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sent in (expected, Counter())
    _assert_staged_files_go(stack, export_id)


def _assert_staged_files_go(stack: "Stack", export_id: uuid.UUID) -> None:
    """No staged work file stays: the run removes its own last (in `finally`, after the row is completed
    and the mail sent), so the check waits a moment for an attempt that finished as the test looked."""
    deadline = time.monotonic() + STAGED_FILES_GONE_SECONDS
    while staged := list((stack.settings.staging_dir / str(export_id)).glob("*/*")):
        if time.monotonic() > deadline:
            pytest.fail(f"staged work files left: {staged}")
        time.sleep(0.1)


def _assert_only_the_final_file_is_stored(stack: "Stack", row: DataExport) -> None:
    storage = open_storage(stack.settings)
    stored = [key for key in storage.list_keys("exports") if f"/{row.id}/" in key]
    assert stored == [row.storage_key]
    name = row.storage_key.rsplit("/", 1)[-1] if row.storage_key else "-"
    assert not [item for item in storage.list_objects(TEMP_DIR) if item.key.endswith(f"-{name}.part")]
