"""The Prefect work pool export runs go to and its queues by priority (importing this imports no Prefect)."""

from flows.vocabulary import ExportPriority

WORK_POOL = "exportflow"
WORK_QUEUES = {ExportPriority.HIGH: "high", ExportPriority.NORMAL: "normal"}
