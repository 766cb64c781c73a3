"""Routes: analytics (being written)."""

from fastapi import APIRouter

from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["analytics"], responses=ERROR_RESPONSES)
