"""Reading every page of a Novita list under every plausible way Novita may page (its docs say only
``pageNum >= 0``): pages from 0 or from 1 (page 0 read as page 1, or empty), a page cap below the asked
size (offsets from the capped or from the asked size), ``total`` present or absent."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from novita_orchestrator.novita.errors import UnexpectedResponse
from novita_orchestrator.novita.pagination import PageLayout, read_all_pages

ASKED = 50


@dataclass
class PagingServer:
    """A list endpoint with ``rows`` rows, paged one of the plausible ways."""

    rows: int
    numbering: str  # "from-0" | "from-1-clamped" (page 0 is page 1) | "from-1-empty" (page 0 is empty)
    cap: int | None = None
    offsets: str = "capped"  # "capped": offset = page * served size; "asked": offset = page * asked size
    total: bool = True
    asked: list[tuple[int, int]] = field(default_factory=list)

    def fetch(self, page_num: int, page_size: int) -> tuple[list[dict[str, Any]], int | None]:
        self.asked.append((page_num, page_size))
        served = min(page_size, self.cap) if self.cap else page_size
        if self.numbering == "from-0":
            index = page_num
        elif self.numbering == "from-1-clamped":
            index = max(page_num, 1) - 1
        else:
            index = page_num - 1
        if index < 0:
            return [], self.rows if self.total else None
        start = index * (served if self.offsets == "capped" else page_size)
        rows = [{"id": f"r{n:04}", "name": f"row-{n}"} for n in range(start, min(start + served, self.rows))]
        return rows, self.rows if self.total else None


def all_ids(count: int) -> list[str]:
    return [f"r{n:04}" for n in range(count)]


def read(server: PagingServer, layout: PageLayout) -> list[str]:
    return [row["id"] for row in read_all_pages(server.fetch, layout, ASKED, operation="list_instances")]


CASES = list(
    itertools.product(
        ("from-0", "from-1-clamped", "from-1-empty"),
        (None, 20, 3),
        ("capped", "asked"),
        (True, False),
        (0, 1, 2, 20, 21, 45, 50, 51, 120),
    )
)


@pytest.mark.parametrize(("numbering", "cap", "offsets", "total", "rows"), CASES)
def test_every_row_once_in_order_on_the_first_listing_and_the_next(numbering, cap, offsets, total, rows):
    server = PagingServer(rows, numbering, cap, offsets, total)
    layout = PageLayout()

    assert read(server, layout) == all_ids(rows)
    first = len(server.asked)
    server.asked.clear()
    assert read(server, layout) == all_ids(rows)

    served = min(ASKED, cap) if cap else ASKED
    pages = max(1, -(-rows // served))
    # Learning costs at most two extra reads once; afterwards at most one (the empty page that ends a
    # listing without ``total``).
    assert first <= pages + 2
    assert len(server.asked) <= pages + (0 if total else 1)


@pytest.mark.parametrize("numbering", ["from-0", "from-1-clamped", "from-1-empty"])
def test_the_numbering_is_learned_once_and_costs_nothing_afterwards(numbering):
    server = PagingServer(120, numbering)
    layout = PageLayout()

    read(server, layout)

    assert layout.first_page == (0 if numbering == "from-0" else 1)
    server.asked.clear()
    read(server, layout)
    start = layout.first_page
    assert server.asked == [(start, 50), (start + 1, 50), (start + 2, 50)]


def test_a_common_account_costs_one_request_whatever_the_numbering():
    for numbering in ("from-0", "from-1-clamped"):
        server = PagingServer(7, numbering)
        assert read(server, PageLayout()) == all_ids(7)
        assert server.asked == [(0, 50)]


def test_a_cap_is_learned_and_asked_for_from_then_on():
    server = PagingServer(45, "from-0", cap=20, offsets="asked", total=False)
    layout = PageLayout()

    assert read(server, layout) == all_ids(45)

    assert layout.cap == 20
    server.asked.clear()
    assert read(server, layout) == all_ids(45)
    assert server.asked == [(0, 20), (1, 20), (2, 20)]


def test_without_total_a_short_page_ends_only_once_the_size_is_known_to_be_served():
    server = PagingServer(7, "from-0", total=False)
    layout = PageLayout()

    read(server, layout)
    assert server.asked == [(0, 50), (1, 7)]  # 7 of 50 could have been a cap: one more (empty) read

    big = PagingServer(57, "from-0", total=False)
    read(big, layout)  # a full page of 50 was served: the size is honoured
    server.asked.clear()
    read(server, layout)
    assert server.asked == [(0, 50)]


def test_a_page_that_repeats_ends_the_listing_instead_of_failing_it():
    def same_page(page_num: int, page_size: int) -> tuple[list[dict[str, Any]], int | None]:
        return [{"id": "a"}, {"id": "b"}], 500

    rows = read_all_pages(same_page, PageLayout(first_page=0), 2, operation="list_instances")

    assert [row["id"] for row in rows] == ["a", "b"]


def test_rows_that_shift_between_pages_are_counted_once():
    pages = {0: [{"id": "a"}, {"id": "b"}], 1: [{"id": "b"}, {"id": "c"}], 2: []}

    rows = read_all_pages(lambda n, s: (pages[n], None), PageLayout(), 2, operation="list_instances")

    assert [row["id"] for row in rows] == ["a", "b", "c"]


def test_template_rows_are_keyed_by_their_capital_id():
    pages = {0: [{"Id": "t1"}, {"Id": "t2"}], 1: [{"Id": "t2"}, {"Id": "t3"}], 2: []}

    rows = read_all_pages(lambda n, s: (pages[n], None), PageLayout(), 2, operation="list_templates")

    assert [row["Id"] for row in rows] == ["t1", "t2", "t3"]


def test_a_listing_that_never_ends_is_an_unexpected_response():
    def endless(page_num: int, page_size: int) -> tuple[list[dict[str, Any]], int | None]:
        return [{"id": f"{page_num}-{n}"} for n in range(page_size)], None

    with pytest.raises(UnexpectedResponse, match="did not end after 5 pages"):
        read_all_pages(endless, PageLayout(), 2, operation="list_instances", max_pages=5)
