"""Routes: templates (being written)."""

from fastapi import APIRouter

from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["templates"], responses=ERROR_RESPONSES)
