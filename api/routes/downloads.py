"""Routes: downloads (being written)."""

from fastapi import APIRouter

from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["downloads"], responses=ERROR_RESPONSES)
