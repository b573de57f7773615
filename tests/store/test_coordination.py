"""Journals and leases, the store primitives sweep agents coordinate through: every backend."""

from __future__ import annotations

import threading
import time

import pytest

from runbase.errors import InvalidInputError
from runbase.store import Store
from runbase.store.base import MAX_JOURNAL_BATCH


# -- journals ------------------------------------------------------------------------------------
def test_journal_appends_are_numbered_from_zero(store: Store) -> None:
    assert store.read_journal("j") == []
    assert store.append_journal("j", ["a", "b"]) == 0
    assert store.append_journal("j", ['{"op": 1}']) == 2
    assert store.read_journal("j") == ["a", "b", '{"op": 1}']
    assert store.read_journal("j", 1) == ["b", '{"op": 1}']
    assert store.read_journal("j", 1, limit=1) == ["b"]
    assert store.read_journal("j", 3) == []
    assert store.read_journal("other") == []


def test_journal_entries_keep_any_text(store: Store) -> None:
    text = ["", "ünïcødé ✓", "x" * 100_000, '{"nested": {"a": [1, 2]}}', "line\nbreak\ttab"]
    store.append_journal("text", text)
    assert store.read_journal("text") == text


def test_journal_append_id_makes_a_retry_a_no_op(store: Store) -> None:
    assert store.append_journal("idem", ["a"], append_id="first") == 0
    assert store.append_journal("idem", ["b", "c"], append_id="second") == 1
    assert store.append_journal("idem", ["b", "c"], append_id="second") == 1
    assert store.append_journal("idem", ["a"], append_id="first") == 0
    assert store.read_journal("idem") == ["a", "b", "c"]
    # The same id in another journal is another append.
    assert store.append_journal("idem2", ["z"], append_id="first") == 0


def test_journal_compare_and_append(store: Store) -> None:
    assert store.append_journal("cas", ["a"], expected_length=0) == 0
    assert store.append_journal("cas", ["b"], expected_length=0) is None
    assert store.append_journal("cas", ["b"], expected_length=1) == 1
    assert store.read_journal("cas") == ["a", "b"]
    # A retried compare-and-append answers where it landed, though the length moved on.
    assert store.append_journal("cas", ["c"], expected_length=2, append_id="c1") == 2
    assert store.append_journal("cas", ["c"], expected_length=2, append_id="c1") == 2
    assert store.read_journal("cas") == ["a", "b", "c"]


def test_journal_read_all_pages(store: Store) -> None:
    n = MAX_JOURNAL_BATCH + 5
    store.append_journal("big", [str(i) for i in range(MAX_JOURNAL_BATCH)])
    store.append_journal("big", [str(i) for i in range(MAX_JOURNAL_BATCH, n)])
    assert len(store.read_journal("big")) == MAX_JOURNAL_BATCH
    entries = store.read_journal_all("big")
    assert entries == [str(i) for i in range(n)]
    assert store.read_journal_all("big", n - 2) == [str(n - 2), str(n - 1)]


@pytest.mark.parametrize(
    ("name", "entries"),
    [("", ["a"]), ("a/b", ["a"]), ("x" * 201, ["a"]), ("ok", []), ("ok", "abc")],
)
def test_journal_rejects_bad_input(store: Store, name: str, entries: list[str]) -> None:
    with pytest.raises(InvalidInputError):
        store.append_journal(name, entries)


def test_journal_rejects_bad_reads(store: Store) -> None:
    with pytest.raises(InvalidInputError):
        store.read_journal("j", -1)
    with pytest.raises(InvalidInputError):
        store.read_journal("j", 0, limit=0)
    with pytest.raises(InvalidInputError):
        store.read_journal("bad name")
    with pytest.raises(InvalidInputError):
        store.append_journal("j", ["a"], append_id="not valid!")


def test_concurrent_appends_are_gap_free_and_in_order(store: Store) -> None:
    """Readers racing writers never see a gap: whatever prefix they read is a prefix of the
    final journal, and every append lands exactly once."""
    writers, per_writer = 4, 25
    seen_prefixes: list[list[str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                store.append_journal("race", [f"{w}:{i}:a", f"{w}:{i}:b"])
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                seen_prefixes.append(store.read_journal("race"))
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors
    final = store.read_journal("race")
    assert len(final) == writers * per_writer * 2
    assert len(set(final)) == len(final)
    for i in range(0, len(final), 2):  # each append's entries stay together
        assert final[i].endswith(":a") and final[i + 1] == final[i][:-1] + "b"
    for prefix in seen_prefixes:
        assert final[: len(prefix)] == prefix


# -- leases --------------------------------------------------------------------------------------
def test_lease_is_exclusive_until_released(store: Store) -> None:
    assert store.acquire_lease("sweep-1", "trial-0", "agent-a", 60)
    assert not store.acquire_lease("sweep-1", "trial-0", "agent-b", 60)
    assert store.acquire_lease("sweep-1", "trial-1", "agent-b", 60)
    (first, second) = store.list_leases("sweep-1")
    assert (first.key, first.holder, first.expired) == ("trial-0", "agent-a", False)
    assert (second.key, second.holder) == ("trial-1", "agent-b")
    assert first.expires_time - first.acquired_time == 60_000
    assert not store.release_lease("sweep-1", "trial-0", "agent-b")
    assert store.release_lease("sweep-1", "trial-0", "agent-a")
    assert not store.release_lease("sweep-1", "trial-0", "agent-a")
    assert store.acquire_lease("sweep-1", "trial-0", "agent-b", 60)
    assert store.list_leases("other") == []


def test_lease_renewal_keeps_acquired_time(store: Store) -> None:
    assert store.acquire_lease("s", "k", "a", 60)
    (before,) = store.list_leases("s")
    time.sleep(0.01)
    assert store.acquire_lease("s", "k", "a", 120)
    (after,) = store.list_leases("s")
    assert after.acquired_time == before.acquired_time
    assert after.expires_time > before.expires_time


def test_expired_lease_can_be_taken_over(store: Store) -> None:
    assert store.acquire_lease("s", "k", "dead", 0.05)
    time.sleep(0.12)
    (lease,) = store.list_leases("s")
    assert lease.expired
    assert store.acquire_lease("s", "k", "alive", 60)
    (lease,) = store.list_leases("s")
    assert (lease.holder, lease.expired) == ("alive", False)
    assert not store.release_lease("s", "k", "dead")


def test_lease_contention_has_one_winner(store: Store) -> None:
    wins: list[str] = []

    def take(holder: str) -> None:
        if store.acquire_lease("contended", "lock", holder, 60):
            wins.append(holder)

    threads = [threading.Thread(target=take, args=(f"h{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert [lease.holder for lease in store.list_leases("contended")] == wins


@pytest.mark.parametrize(
    ("scope", "key", "holder", "ttl"),
    [
        ("", "k", "h", 1),
        ("s", "a b", "h", 1),
        ("s", "k", "", 1),
        ("s", "k", "h", 0),
        ("s", "k", "h", 1e9),
    ],
)
def test_lease_rejects_bad_input(
    store: Store, scope: str, key: str, holder: str, ttl: float
) -> None:
    with pytest.raises(InvalidInputError):
        store.acquire_lease(scope, key, holder, ttl)
