"""Shared status reads: while many operations are in flight, one listing of Novita's instances
serves them all, instead of one ``GET /gpu/instance`` per operation per poll.

The reader decides, for each read, between the snapshot (:mod:`..store.status_snapshot_store`), a
refresh of it, and the operation's own GET:

* a snapshot no older than ``max_age_seconds`` (the bound every read states) is used as it is;
* one older than the refresh age is refreshed by whichever read finds it so, under a short lease
  (one refresher at a time) — from list pages, when the reads it would serve outnumber its pages:
  each operation in flight tells (a small item per operation) when it reads next and how likely its
  instance is still on its way then, so the expected GETs a listing replaces are the sum over the
  reads due within the bound; with fewer, each read does its own GET and nothing is listed;
* while another read refreshes, a read uses the copy it has if that is within the bound, else
  waits briefly for the refresh, else does its own GET.

A shared row can only make an operation keep waiting. Whatever decides an operation (running, a
failure, a status it will not leave) is read again by GET, and so is everything a list row lacks
(port endpoints) or may get wrong under one of Novita's dialects (a removed row still listed, a
stale ``statusError``): a stale or missing snapshot makes an operation slower, never wrong.
A DynamoDB or Novita failure of the snapshot falls back to the GET (logged, never raised).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from novita_orchestrator.clock import Clock
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import NovitaError
from novita_orchestrator.novita.models import REMOVED_STATUSES, Instance, StatusError
from novita_orchestrator.observability import logger
from novita_orchestrator.store.status_snapshot_store import (
    BACKING_OFF,
    Snapshot,
    SnapshotStore,
    SnapshotStoreUnavailable,
    StatusRow,
    Watch,
)

#: A refresh starts once the snapshot is this share of the bound old, so that reads arriving while
#: it runs still have a copy within the bound.
REFRESH_SHARE = 0.75
#: How long a refresher holds the lease at most (a listing of a few pages, rate slots included).
LEASE_SECONDS = 10.0
#: After a failed listing, nobody lists for this long (the lease is kept; reads do their own GET).
LISTING_BACKOFF_SECONDS = 30.0
#: How long a read waits for someone else's refresh before doing its own GET.
MAX_WAIT_SECONDS = 3.0
WAIT_STEP_SECONDS = 0.2
#: Keys the API's reads are noted under (see ``note_read``).
READ_MARKERS = 32
#: An instance ID listed this recently is taken to exist (for an API answer naming it; never for its status).
IDENTITY_MAX_AGE_SECONDS = 300.0


@dataclass(frozen=True)
class SharedReadSettings:
    #: The oldest snapshot a read uses, seconds.
    max_age_seconds: float
    #: List once this many reads are due within the bound; 0 = once they (expected) exceed a listing's pages.
    list_threshold: int
    #: Rows per list page (what a listing costs: rows / page size requests).
    page_size: int


@dataclass(frozen=True)
class StatusRead:
    instance: Instance
    #: True when it came from the snapshot (no port endpoints then), False when from a GET.
    shared: bool


class StatusReader:
    """Status and name reads for the workflow and the API; without a store, every read is a GET."""

    def __init__(
        self,
        novita: NovitaClient,
        store: SnapshotStore | None,
        clock: Clock,
        settings: SharedReadSettings,
    ) -> None:
        self._novita = novita
        self._store = store
        self._clock = clock
        self._settings = settings

    # --- reads -----------------------------------------------------------------------------------

    def instance(
        self, instance_id: str, *, settles: Callable[[Instance], bool], shared_ok: bool = True
    ) -> StatusRead:
        """The instance as a fresh shared row while ``settles`` says that row would only make the
        operation wait; otherwise (or without a usable row, or not ``shared_ok``) as one GET."""
        if not shared_ok:
            return StatusRead(self._novita.get_instance(instance_id), shared=False)
        snapshot = self._snapshot()
        row = snapshot.rows.get(instance_id) if snapshot is not None else None
        if row is not None and row.status not in REMOVED_STATUSES:
            shared = _instance_of(instance_id, row)
            if not settles(shared):
                return StatusRead(shared, shared=True)
        return StatusRead(self._novita.get_instance(instance_id), shared=False)

    def identify(
        self, ref: str, *, fallback: Callable[[NovitaClient, str], Instance]
    ) -> tuple[Instance, bool]:
        """Which instance ``ref`` is, for a caller that needs little of its status (the API naming it
        in a 202), and whether the status that comes with it is fresh (within the bound).

        An ID listed up to ``IDENTITY_MAX_AGE_SECONDS`` ago is enough: an ID never changes hands, and
        an instance deleted since fails the operation later, with its notification. Names change, so
        a name is resolved as :meth:`find` does."""
        known = self._known_id(ref)
        if known is not None:
            instance, age = known
            return instance, age <= self._settings.max_age_seconds
        self.note_read()  # not served: a burst of these makes a listing pay
        return self.find(ref, fallback=fallback), True

    def find(self, ref: str, *, fallback: Callable[[NovitaClient, str], Instance]) -> Instance:
        """An instance by ID, else by exact name, from a fresh complete snapshot when it names exactly
        one that is not running or gone; otherwise ``fallback(novita, ref)`` (its GETs and listing
        decide: not found, several with that name, removed, the status of a running instance)."""
        snapshot = self._snapshot()
        if snapshot is not None and snapshot.complete:
            found = _one_by_ref(snapshot, ref)
            if found is not None and found[1].status != "running" and found[1].status not in REMOVED_STATUSES:
                return _instance_of(*found)
        return fallback(self._novita, ref)

    def _known_id(self, ref: str) -> tuple[Instance, float] | None:
        if self._store is None:
            return None
        try:
            snapshot = self._store.load()
        except SnapshotStoreUnavailable as exc:
            _store_failed("read", exc)
            return None
        if snapshot is None or snapshot.age(self._clock.now()) > IDENTITY_MAX_AGE_SECONDS:
            return None
        row = snapshot.rows.get(ref)
        if row is None or row.status in REMOVED_STATUSES:
            return None
        return _instance_of(ref, row), snapshot.age(self._clock.now())

    # --- who is waiting ----------------------------------------------------------------------------

    def watch(
        self,
        operation_id: str,
        *,
        instance_id: str | None,
        until: float,
        read_at: float,
        booting: float = 1.0,
    ) -> None:
        """Count this operation among those waiting on a status until ``until`` (its deadline): it reads
        next at ``read_at``, when its instance is still on its way with probability ``booting``."""
        if self._store is None:
            return
        try:
            self._store.watch(
                operation_id,
                instance_id=instance_id,
                expires_at=until,
                read_at=read_at,
                booting=min(1.0, max(0.0, booting)),
            )
        except SnapshotStoreUnavailable as exc:
            _store_failed("watch", exc)

    def note_read(self) -> None:
        """Count a read that just happened outside any poll loop (the API resolving a start): reads in
        the last bound predict those in the next, so a burst of them makes a listing pay."""
        if self._store is None:
            return
        now = self._clock.now()
        try:
            # One of a fixed few keys, overwritten: the markers never pile up (their count is a rate
            # hint up to READ_MARKERS per bound, plenty to tell a burst).
            self._store.watch(
                f"read-{secrets.randbelow(READ_MARKERS)}",
                instance_id=None,
                expires_at=now + self._settings.max_age_seconds,
                read_at=now,
                booting=1.0,
            )
        except SnapshotStoreUnavailable as exc:
            _store_failed("note", exc)

    def unwatch(self, operation_id: str) -> None:
        if self._store is None:
            return
        try:
            self._store.unwatch(operation_id)
        except SnapshotStoreUnavailable as exc:
            _store_failed("unwatch", exc)

    # --- the snapshot ------------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot | None:
        """A snapshot within the bound, refreshed first when due and worth it; None = read by GET."""
        if self._store is None:
            return None
        try:
            return self._current_snapshot(self._store)
        except SnapshotStoreUnavailable as exc:
            _store_failed("read", exc)
            return None

    def _current_snapshot(self, store: SnapshotStore) -> Snapshot | None:
        max_age = self._settings.max_age_seconds
        now = self._clock.now()
        current = store.load()
        if current is not None and current.age(now) <= max_age * REFRESH_SHARE:
            return current
        usable = current if current is not None and current.age(now) <= max_age else None
        waiting = store.watching(now=now)
        due = [w for w in waiting if w.read_at <= now + max_age]
        if not self._listing_pays(due, current):
            return usable
        holder = secrets.token_hex(8)
        if store.take_lease(holder, now=now, until=now + LEASE_SECONDS):
            refreshed = None
            try:
                refreshed = self._refresh(store, now, [w.instance_id for w in waiting if w.instance_id])
            finally:
                if refreshed is None:
                    # The listing failed: nobody lists for a while (no storm of failing listings
                    # feeding the breaker); reads meanwhile use their own GET.
                    store.back_off(holder, until=now + LISTING_BACKOFF_SECONDS)
                else:
                    store.release_lease(holder)
            return refreshed or usable
        if usable is not None or store.lease_holder(now=now) in (None, BACKING_OFF):
            return usable
        return self._await_refresh(store, since=now)

    def _listing_pays(self, due: list[Watch], current: Snapshot | None) -> bool:
        """Whether the GETs a listing replaces (the reads due while it is fresh, each weighted by the
        chance that its instance still boots then) exceed its cost (its pages: the last listing's,
        or one before any). With a threshold set: whether that many reads are due."""
        if self._settings.list_threshold > 0:
            return len(due) >= self._settings.list_threshold
        pages = current.pages if current is not None else 1
        return sum(w.booting for w in due) > pages

    def _refresh(self, store: SnapshotStore, began: float, keep: list[str]) -> Snapshot | None:
        try:
            # One attempt: a failed listing costs the reads nothing (they GET), while retrying it
            # would add to an outage and count four failures against the shared breaker each time.
            listed = self._novita.list_instances(retried=False)
        except NovitaError as exc:
            logger.warning(
                "status snapshot not refreshed: listing failed; reads use their own GET",
                extra={"error_code": exc.code},
            )
            return None
        snapshot = Snapshot(
            rows={row.id: StatusRow.of(row) for row in listed if row.id},
            refreshed_at=began,
            pages=max(1, math.ceil(len(listed) / max(1, self._settings.page_size))),
        )
        store.save(snapshot, keep=keep)
        return snapshot

    def _await_refresh(self, store: SnapshotStore, *, since: float) -> Snapshot | None:
        """Someone else is refreshing: wait for their snapshot (bounded), else None (own GET)."""
        waited_until = since + MAX_WAIT_SECONDS
        while self._clock.now() < waited_until:
            if store.lease_holder(now=self._clock.now()) is None:
                current = store.load()  # they are done (or gave up): whatever they left
                usable = (
                    current is not None and current.age(self._clock.now()) <= self._settings.max_age_seconds
                )
                return current if usable else None
            self._clock.sleep(WAIT_STEP_SECONDS)
            current = store.load()
            if current is not None and current.age(self._clock.now()) <= self._settings.max_age_seconds:
                return current
        return None


def _one_by_ref(snapshot: Snapshot, ref: str) -> tuple[str, StatusRow] | None:
    row = snapshot.rows.get(ref)
    if row is not None:
        return ref, row
    named = [(instance_id, row) for instance_id, row in snapshot.rows.items() if row.name == ref]
    return named[0] if len(named) == 1 else None


def _instance_of(instance_id: str, row: StatusRow) -> Instance:
    error = StatusError(**row.status_error) if row.status_error else None
    return Instance(
        id=instance_id, name=row.name, status=row.status, product_id=row.product_id, status_error=error
    )


def _store_failed(what: str, exc: Exception) -> None:
    logger.warning(f"status snapshot {what} failed; reads use their own GET", extra={"error": str(exc)})
