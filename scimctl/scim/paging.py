"""Listings that cannot run away.

A listing is read until the service says it is done, and the service may be wrong:
``totalResults: 10^12`` over the same page repeated, a ``startIndex`` that never
moves, a Platform ``total`` of a billion. Each page is checked against what has been
read so far, and the read stops with the rule that stopped it named, long before
memory or patience runs out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from scimctl.errors import ApiError
from scimctl.scim.ids import kind
from scimctl.text import count

# More resources than any directory scimctl manages; a total above it is a lie.
MAX_LISTING = 1_000_000
# Pages of a listing by cursor, which are read one after another: a service whose
# cursors never end is stopped here, not by the command's deadline alone.
MAX_CURSOR_PAGES = 10_000


class Pages:
    """What one listing has read so far, and the rules each new page must pass."""

    def __init__(self, path: str, items_key: str, total_key: str) -> None:
        self.path = path
        self.items_key = items_key
        self.total_key = total_key
        self._seen: set[str] = set()
        self._first_total: int | None = None
        self._lock = threading.Lock()

    def error(self, where: str, message: str) -> ApiError:
        return ApiError(f"GET {self.path} {where}: {message}", method="GET", path=self.path)

    def read(self, body: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], int | None]:
        """The page's items and its total (None when it states none), types checked."""
        items = body.get(self.items_key)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise self.error(where, f"{self.items_key} is {kind(items)}, not a list")
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(where, f"{self.items_key}[{n}] is {kind(item)}, not an object")
        total = body.get(self.total_key)
        if total is None:
            return items, None
        if not isinstance(total, int) or isinstance(total, bool):
            raise self.error(where, f"{self.total_key} is {kind(total)}, not a number")
        if not 0 <= total <= MAX_LISTING:
            raise self.error(
                where,
                f"stopped paging: {self.total_key} {total} is implausible "
                f"(scimctl reads at most {MAX_LISTING:,} in one listing)",
            )
        return items, total

    def check(self, items: list[dict[str, Any]], total: int | None, where: str) -> None:
        """Refuse a page that adds nothing new, or a total that jumps between pages."""
        ids = {i["id"] for i in items if isinstance(i.get("id"), str)}
        with self._lock:
            if self._first_total is None:
                self._first_total = total
            elif total is not None and total > 2 * self._first_total + 1000:
                raise self.error(
                    where,
                    f"stopped paging: {self.total_key} jumped from {self._first_total} "
                    f"to {total} while reading",
                )
            if ids and ids <= self._seen:
                raise self.error(
                    where, "stopped paging: the page repeats items already read, adding nothing new"
                )
            self._seen |= ids


def check_start(pages: Pages, body: dict[str, Any], asked: int, where: str) -> None:
    """A SCIM page must start where it was asked to (RFC 7644 3.4.2.4)."""
    said = body.get("startIndex")
    if said is None:
        return
    if not isinstance(said, int) or isinstance(said, bool):
        raise pages.error(where, f"startIndex is {kind(said)}, not a number")
    if said != asked:
        raise pages.error(
            where, f"stopped paging: startIndex {asked} was asked for and {said} answered"
        )


def by_cursor(
    get: Callable[[dict[str, str]], dict[str, Any]],
    pages: Pages,
    size: int,
    on_page: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Every item of a listing paged by cursor (RFC 9865): ``cursor`` empty for the
    first page, then each page's ``nextCursor`` until a page names none.

    Pages are read one after another (a cursor is known only from the page before), and
    the rules of index paging hold: each page's types, a page adding nothing new, a
    total that jumps; besides, a cursor followed twice or named by an empty page stops
    the read, and a listing that ends short of its ``totalResults`` is refused, since a
    plan made from half a directory would re-create the other half."""
    out: list[dict[str, Any]] = []
    followed: set[str] = set()
    cursor = ""
    while True:
        where = f"on page {len(followed) + 1} by cursor"
        body = get({"cursor": cursor, "count": str(size)})
        items, total = pages.read(body, where)
        on_page(len(items))
        pages.check(items, total, where)
        out += items
        nxt = body.get("nextCursor")
        if nxt is None or nxt == "":
            if total is not None and len(out) < total:
                raise pages.error(
                    where,
                    f"the last page (no nextCursor) leaves {len(out)} of totalResults "
                    f"{total} read; refusing to plan from a partial listing",
                )
            return out
        if not isinstance(nxt, str):
            raise pages.error(where, f"nextCursor is {kind(nxt)}, not a string")
        if not items:
            raise pages.error(where, "stopped paging: a page with no items names a nextCursor")
        if nxt in followed or nxt == cursor:
            raise pages.error(where, "stopped paging: nextCursor names a page already read")
        if total is not None and len(out) > 2 * total + 1000:
            raise pages.error(
                where,
                f"stopped paging: {count(len(out), 'item')} read where totalResults says {total}",
            )
        if len(followed) + 1 >= MAX_CURSOR_PAGES:
            raise pages.error(
                where, f"stopped paging: {MAX_CURSOR_PAGES:,} pages and still a nextCursor"
            )
        followed.add(cursor)
        cursor = nxt
