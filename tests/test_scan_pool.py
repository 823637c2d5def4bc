"""The scan's worker processes: every task done once, bugs and deaths reported to the caller."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import pytest

from dicomref.catalog._pool import RemoteTraceback, SharedLock, imap_unordered


def _square_with_pid(task: list[int]) -> tuple[int, list[int]]:
    return os.getpid(), [n * n for n in task]


def _fails_on_13(task: list[int]) -> list[int]:
    if 13 in task:
        raise ValueError("13 is unlucky")
    return task


def _dies_on_13(task: list[int]) -> list[int]:
    if 13 in task:
        os._exit(3)
    return task


def _tasks(n: int, weight: int = 1) -> Iterator[tuple[list[int], int]]:
    return (([i], weight) for i in range(n))


def test_every_task_is_done_once_and_the_work_is_shared() -> None:
    results = list(imap_unordered(_square_with_pid, _tasks(200), 2, ahead=3))
    assert sorted(n for _, squares in results for n in squares) == [i * i for i in range(200)]
    assert len({pid for pid, _ in results}) == 2
    assert os.getpid() not in {pid for pid, _ in results}


def test_the_closing_task_goes_once_to_each_worker() -> None:
    results = list(imap_unordered(_square_with_pid, _tasks(5), 3, ahead=2, closing=[100]))
    closings = [pid for pid, squares in results if squares == [10_000]]
    assert len(closings) == len(set(closings)) == 3
    assert len(results) == 5 + 3


def test_heavy_tasks_leave_room_for_fewer_tasks_ahead() -> None:
    results = list(imap_unordered(_square_with_pid, _tasks(10, weight=5), 2, ahead=4))
    assert len(results) == 10  # a task heavier than `ahead` still goes, one at a time


def test_an_exception_in_a_worker_is_raised_with_its_traceback() -> None:
    with pytest.raises(ValueError, match="13 is unlucky") as info:
        list(imap_unordered(_fails_on_13, _tasks(40), 2, ahead=2))
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "_fails_on_13" in str(info.value.__cause__)


def test_a_worker_that_dies_breaks_the_pool() -> None:
    with pytest.raises(BrokenProcessPool, match="exit code 3"):
        list(imap_unordered(_dies_on_13, _tasks(40), 2, ahead=2))


def test_the_caller_works_too_and_closes_last() -> None:
    results = list(
        imap_unordered(
            _square_with_pid, _tasks(200), 1, ahead=2, closing=[1000], local=_square_with_pid
        )
    )
    squares = sorted(n for _, found in results for n in found if n != 1_000_000)
    assert squares == [i * i for i in range(200)]
    pids = {pid for pid, _ in results}
    assert len(pids) == 2 and os.getpid() in pids  # the worker and the caller
    mine = [found for pid, found in results if pid == os.getpid()]
    assert mine[-1] == [1_000_000]  # the caller's closing is its last task
    assert sum(found == [1_000_000] for _, found in results) == 2


def test_the_caller_leaves_heavier_tasks_to_workers_with_less_waiting() -> None:
    heavy = (([i], 10) for i in range(6))
    results = list(imap_unordered(_square_with_pid, heavy, 1, ahead=2, local=_square_with_pid))
    assert sorted(n for _, found in results for n in found) == [0, 1, 4, 9, 16, 25]
    assert len({pid for pid, _ in results}) == 2  # shared, though each task outweighs `ahead`


_LOCK: SharedLock | None = None


def _dies_holding_the_lock(task: list[int]) -> list[int]:
    assert _LOCK is not None
    _LOCK.acquire()
    os._exit(5)


def _waits_for_the_lock(task: list[int]) -> list[int]:
    assert _LOCK is not None
    time.sleep(0.2)  # the worker takes the lock first
    _LOCK.acquire()
    _LOCK.release()
    return task


def test_a_worker_that_dies_holding_the_shared_lock_does_not_hang_the_caller() -> None:
    global _LOCK
    _LOCK = SharedLock()
    try:
        with pytest.raises(BrokenProcessPool, match="exit code 5"):
            list(
                imap_unordered(
                    _dies_holding_the_lock,
                    _tasks(3),
                    1,
                    ahead=1,
                    local=_waits_for_the_lock,
                    lock=_LOCK,
                )
            )
    finally:
        _LOCK = None
