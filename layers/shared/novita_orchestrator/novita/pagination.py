"""Read every row of a paginated Novita list, whatever the page numbering and the page cap.

Novita documents only ``pageNum >= 0``, no largest ``pageSize``, and a ``total`` that live answers do
not always carry. So the reader assumes none of it:

* **Numbering.** The first listing of a process reads ``pageNum=0`` and ``pageNum=1``: page 1
  repeating page 0 (or page 0 empty, page 1 not) means pages count from 1, page 1 bringing new rows
  means they count from 0. Either way the next page to read is 2, so nothing is lost while learning.
  Later listings start at the learned first page: no extra request once it is known.
* **Cap.** A page shorter than asked that is not the last (``total`` says more, or the next page has
  rows) shows the server's cap; the rest of the listing, and later ones, ask for that size, so the
  offsets agree whether the server clamps the size before or after computing them.
* **End.** The last page is the one that reaches ``total``, an empty page, or (without ``total``) a
  short page once a full page of that size has been seen or the cap is known. Without ``total`` and
  without that knowledge, one more (empty) page is read.
* **Repeats.** Rows are counted once by ID (they can shift between pages while listing); a page that
  brings nothing new ends the listing instead of failing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock
from typing import Any

from novita_orchestrator.novita.errors import UnexpectedResponse
from novita_orchestrator.observability import logger

Row = dict[str, Any]
#: ``(pageNum, pageSize) -> (rows, total or None)``: one read of one page.
FetchPage = Callable[[int, int], tuple[list[Row], int | None]]

#: A listing that has not ended after this many pages is treated as a misbehaving server.
MAX_PAGES = 1000


@dataclass
class PageLayout:
    """What one process has learned about how one list endpoint pages (shared by its listings)."""

    #: 0 or 1 once seen; None until a listing showed it.
    first_page: int | None = None
    #: The most rows the server returns per page, once a short page turned out not to be the last.
    cap: int | None = None
    #: The largest page size the server has been seen to fill.
    filled: int = 0

    def size_for(self, wanted: int) -> int:
        return min(wanted, self.cap) if self.cap else wanted

    def short_page_ends(self, size: int) -> bool:
        """Whether a page shorter than ``size`` is surely the last one."""
        return self.cap is not None or self.filled >= size


class PageLayouts:
    """One :class:`PageLayout` per list path, kept for the life of the client (thread-safe)."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._layouts: dict[str, PageLayout] = {}

    def for_path(self, path: str) -> PageLayout:
        with self._lock:
            return self._layouts.setdefault(path, PageLayout())


def row_id(row: Row) -> str:
    """The row's ID (templates spell it ``Id``), or "" when it has none."""
    value = row.get("id", row.get("Id", ""))
    return str(value) if value is not None else ""


class _Collected:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._seen: set[str] = set()

    def take(self, page: list[Row]) -> int:
        """Add the page's rows not seen yet; how many were new."""
        new = 0
        for row in page:
            key = row_id(row)
            if key and key in self._seen:
                continue
            if key:
                self._seen.add(key)
            self.rows.append(row)
            new += 1
        return new

    def complete(self, page: list[Row], total: int | None, size: int, layout: PageLayout) -> bool:
        if not page:
            return True
        if total is not None:
            return len(self.rows) >= total
        return len(page) < size and layout.short_page_ends(size)


def read_all_pages(
    fetch: FetchPage, layout: PageLayout, page_size: int, *, operation: str, max_pages: int = MAX_PAGES
) -> list[Row]:
    """Every row of the listing, each once (see the module docstring for how pages are walked)."""
    size = layout.size_for(page_size)
    collected = _Collected()
    learning = layout.first_page is None
    page_num = 0 if layout.first_page is None else layout.first_page
    page, total = fetch(page_num, size)
    collected.take(page)
    short: int | None = None  # the length of a short page that may have been the server's cap
    for _ in range(max_pages):
        if len(page) == size:
            layout.filled = max(layout.filled, size)
        ends = collected.complete(page, total, size, layout)
        if learning and page_num == 0 and not page and total != 0:
            ends = False  # an empty page 0 may only mean that pages count from 1
        if ends:
            return collected.rows
        if 0 < len(page) < size:
            short = size = len(page)  # ask the next page at the size the server just gave
        page_num += 1
        following, total = fetch(page_num, size)
        new = collected.take(following)
        if learning:
            learning = False
            _learn_first_page(layout, page, following, new, operation)
            if following and not new:
                page = following  # page 1 repeated page 0: it was the first page; page 2 is next
                continue
        if following and not new:
            logger.warning(
                "Novita list page brought no new rows; listing ends",
                extra={"operation": operation, "page_num": page_num},
            )
            return collected.rows
        if new and short is not None:
            layout.cap, short = short, None  # the short page was not the last: the server's cap
        page = following
    raise UnexpectedResponse(f"Novita {operation} did not end after {max_pages} pages", operation=operation)


def _learn_first_page(
    layout: PageLayout, page_zero: list[Row], page_one: list[Row], new_on_page_one: int, operation: str
) -> None:
    if page_zero and page_one and new_on_page_one == len(page_one):
        layout.first_page = 0
    elif page_one and (not page_zero or new_on_page_one == 0):
        layout.first_page = 1
    elif page_zero and not page_one:
        layout.first_page = 0  # one page of rows, then nothing: page 0 was the first page
    else:
        return  # nothing listed, or rows shifted while listing: learn it next time
    logger.info("Novita list pages counted", extra={"operation": operation, "first_page": layout.first_page})
