"""Routes: scheduled exports (being written)."""

from fastapi import APIRouter

from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["schedules"], responses=ERROR_RESPONSES)
