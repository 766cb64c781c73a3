"""Routes: types (being written)."""

from fastapi import APIRouter

from api.schemas.common import ERROR_RESPONSES

router = APIRouter(tags=["types"], responses=ERROR_RESPONSES)
