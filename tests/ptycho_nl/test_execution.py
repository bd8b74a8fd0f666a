"""The executors: the same outcomes serial, in a process pool and on Dask; a lost worker reruns
only the lost work; a scheduler that does not answer is one line."""

import socket
import sys
import warnings
from collections import Counter

import pytest
from exec_jobfns import calls, dask_settings, die_once, environment, fail, square

from ptycho_nl.execution import ExecutionError, JobFailure, JobQueue, make_executor


def _jobs(log_dir, n=4):
    return [(f"j{i}", (str(log_dir), f"j{i}", i)) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executors_return_every_result_and_isolate_failures(tmp_path, workers):
    with make_executor(workers) as ex:
        got = dict(ex.run(square, _jobs(tmp_path)))
        failed = dict(ex.run(fail, [("bad", (str(tmp_path), "bad"))]))
    assert got == {f"j{i}": i * i for i in range(4)}
    assert failed == {"bad": JobFailure("KeyError: 'diffraction'")}
    assert Counter(calls(tmp_path)) == Counter(["j0", "j1", "j2", "j3", "bad"])


@pytest.mark.parametrize("options", [{"workers": 1}, {"workers": 2}, {"dask_local": 2}])
def test_jobs_put_in_the_queue_while_the_run_goes_on_run_too(tmp_path, options):
    if "dask_local" in options:
        pytest.importorskip("distributed")
    taken = []
    queue = JobQueue(_jobs(tmp_path, 2), on_take=taken.append)
    got = {}
    with make_executor(**options) as ex:
        for key, value in ex.run(square, queue):
            got[key] = value
            if key.startswith("j"):  # each first-round outcome releases one more job
                queue.put(f"next-{key}", (str(tmp_path), f"next-{key}", 10 + value))
    assert got == {"j0": 0, "j1": 1, "next-j0": 100, "next-j1": 121}
    assert sorted(taken) == sorted(got)  # each job's clock started once, when it was taken
    assert Counter(calls(tmp_path)) == Counter(list(got))  # every job ran once


def test_queue_gives_the_highest_priority_first_and_equals_in_the_order_put():
    queue = JobQueue()
    for key, priority in [("low", 1.0), ("high", 9.0), ("mid-1", 5.0), ("mid-2", 5.0)]:
        queue.put(key, (), priority)
    assert [key for key, _, _ in queue.take(3)] == ["high", "mid-1", "mid-2"]
    assert queue.take() == [("low", (), 1.0)] and len(queue) == 0


@pytest.mark.parametrize("options", [{"workers": 1}, {"dask_local": 1}])
def test_one_worker_runs_queued_jobs_by_priority(tmp_path, options):
    if "dask_local" in options:
        pytest.importorskip("distributed")
    queue = JobQueue()
    for i, priority in enumerate([1, 7, 3, 9, 5]):
        queue.put(f"p{priority}", (str(tmp_path), f"p{priority}", i), float(priority))
    with make_executor(**options) as ex:
        list(ex.run(square, queue))
    assert calls(tmp_path) == ["p9", "p7", "p5", "p3", "p1"]


@pytest.mark.parametrize("options", [{"workers": 2}, {"dask_local": 2}])
def test_executors_hold_back_what_they_cannot_start_so_a_later_urgent_job_goes_first(
    tmp_path, options
):
    # Two workers: the executor takes three jobs (one per worker and one more). "urgent", put
    # on the first outcome, is taken before the two low-priority jobs still in the queue (they
    # would have been ahead of it, had the executor taken every job at once).
    if "dask_local" in options:
        pytest.importorskip("distributed")
    taken: list[str] = []
    queue = JobQueue(on_take=taken.append)
    for i, priority in enumerate([5, 4, 3, 2, 1]):
        queue.put(f"p{priority}", (str(tmp_path), f"p{priority}", i), float(priority))
    with make_executor(**options) as ex:
        for n, _ in enumerate(ex.run(square, queue)):
            if n == 0:
                queue.put("urgent", (str(tmp_path), "urgent", 0), 10.0)
    assert taken == ["p5", "p4", "p3", "urgent", "p2", "p1"]
    assert sorted(calls(tmp_path)) == sorted(taken)


def test_pool_reruns_a_job_whose_worker_died_and_not_the_finished_ones(tmp_path):
    with make_executor(2) as ex:
        done = dict(ex.run(square, _jobs(tmp_path)))
        rerun = dict(ex.run(die_once, [("k", (str(tmp_path), "k", 5))]))
    assert done == {f"j{i}": i * i for i in range(4)} and rerun == {"k": 25}
    assert Counter(calls(tmp_path)) == Counter(["j0", "j1", "j2", "j3", "k", "k"])


def test_pool_workers_see_the_environment_of_the_pool_not_of_the_fork_server(monkeypatch):
    # The fork server outlives pools; a variable set after it started reaches the next pool.
    with make_executor(2) as ex:
        list(ex.run(environment, [("warm", (("HOME",),))]))
    monkeypatch.setenv("PTYCHO_NL_TEST_MARK", "second pool")
    monkeypatch.delenv("PTYCHO_NL_TEST_GONE", raising=False)
    with make_executor(2) as ex:
        ((_, seen),) = ex.run(environment, [("env", (("PTYCHO_NL_TEST_MARK", "OMP_NUM_THREADS"),))])
    assert seen == {"PTYCHO_NL_TEST_MARK": "second pool", "OMP_NUM_THREADS": "1"}


def test_dask_local_cluster_caps_threads_keeps_malloc_and_leaves_this_environment(monkeypatch):
    pytest.importorskip("distributed")
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    with make_executor(dask_local=2, threads=1) as ex:
        ((_, seen),) = ex.run(environment, [("env", (names,))])
    # Dask's default MALLOC_TRIM_THRESHOLD_ is not passed on (it slowed study jobs 1.5x) ...
    assert seen["MALLOC_TRIM_THRESHOLD_"] is None
    assert seen["OMP_NUM_THREADS"] == seen["MKL_NUM_THREADS"] == "1"
    # ... and what the nannies set in this process's environment is undone.
    assert environment(names) == dict.fromkeys(names)


def test_dask_local_cluster_workers_run_without_dask_background_sampling():
    """A LocalCluster shares the jobs' cores: its workers must not sample or tick on them."""
    pytest.importorskip("distributed")
    names = (
        "distributed.worker.profile.enabled",
        "distributed.admin.system-monitor.gil.enabled",
        "distributed.admin.tick.interval",
    )
    with make_executor(dask_local=1, threads=1) as ex:
        ((_, seen),) = ex.run(dask_settings, [("settings", (names,))])
    assert seen["distributed.worker.profile.enabled"] is False
    assert seen["distributed.admin.system-monitor.gil.enabled"] is False
    assert seen["distributed.admin.tick.interval"] == "1s"


def test_dask_local_cluster_does_not_compete_for_the_dashboard_port():
    """Another cluster holds 8787 (here a plain socket): no 'port in use' warning, since the
    scheduler's HTTP routes go to a free local port."""
    pytest.importorskip("distributed")
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # something else holds it already: the same situation
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with make_executor(dask_local=1) as ex:
                port = ex.client.cluster.scheduler.http_server.port
    finally:
        holder.close()
    assert port != 8787
    assert not [w for w in caught if "already in use" in str(w.message)]


def test_both_dask_options_at_once_are_refused():
    both = make_executor(scheduler="tcp://127.0.0.1:1", dask_local=1)
    with pytest.raises(ExecutionError, match="not both"), both:
        pass


def test_scheduler_that_does_not_answer_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(ExecutionError) as info, make_executor(scheduler=address, timeout_s=1.0):
        pass
    message = str(info.value)
    assert "\n" not in message and address in message and "no answer within 1 s" in message


@pytest.mark.slow
def test_dask_local_cluster_reruns_only_the_job_whose_worker_was_killed(tmp_path):
    pytest.importorskip("distributed")
    jobs = [(k, (*args, False)) for k, args in _jobs(tmp_path, 3)]
    jobs.insert(1, ("k", (str(tmp_path), "k", 5, True)))
    with make_executor(dask_local=2) as ex:
        assert ex.name == "dask" and ex.slots == 2
        got = dict(ex.run(die_once, jobs))
    assert got == {"j0": 0, "j1": 1, "j2": 4, "k": 25}
    # The killed attempt and its rerun; every other job ran once.
    assert Counter(calls(tmp_path)) == Counter({"j0": 1, "j1": 1, "j2": 1, "k": 2})


@pytest.mark.slow
def test_dask_job_whose_worker_dies_past_the_allowed_failures_fails_as_worker_lost(tmp_path):
    dask = pytest.importorskip("dask")
    no_reruns = dask.config.set({"distributed.scheduler.allowed-failures": 0})
    with no_reruns, make_executor(dask_local=1) as ex:
        got = dict(ex.run(die_once, [("k", (str(tmp_path), "k", 5, True))]))
    assert got["k"].worker_lost and got["k"].error.startswith("WorkerLost: ")
    assert calls(tmp_path) == ["k"]  # not rerun


def test_dask_options_without_dask_installed_are_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    missing = pytest.raises(ExecutionError, match=r"pip install 'ptycho-nl\[distributed\]'")
    with missing, make_executor(dask_local=1):
        pass
