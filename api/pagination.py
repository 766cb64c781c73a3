"""Paging of every list route: the `page` and `limit` parameters, and one page of a query with its total."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.schemas.common import Pagination

T = TypeVar("T")
MAX_PAGE = 1_000_000
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class PageRequest:
    page: int
    limit: int

    def of(self, session: Session, statement: Select[T]) -> tuple[Sequence[T], Pagination]:
        """This page of the statement's rows (ordered as it orders them) and the pagination of all."""
        total: Any = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
        rows = session.scalars(statement.offset((self.page - 1) * self.limit).limit(self.limit)).all()
        return rows, Pagination.of(self.page, self.limit, total or 0)


def page_request(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(page, limit)


PageDep = Annotated[PageRequest, Depends(page_request)]
