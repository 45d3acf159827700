"""MapReduce under faults, with real processes: kill -9 workers and masters mid-job, pause a
master until its session expires, stragglers. Every job must end with the exact output of a
fault-free run, and nothing may be committed twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import wordcount_reference

from gfs import zk

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "data" / "sample").glob("*.txt"))
CHUNK = 64 * 1024

# A word count whose mapper sleeps per line (so a phase lasts long enough to break things in
# the middle of it), and whose first attempt of one chosen map can be made much slower.
SLOW_JOB = """
import os, time
DELAY = 0.0
REDUCE_DELAY = 0.0
SLOW_FILE = ""
SLOW_FACTOR = 1.0
RUN = ""
MARKER_DIR = "/tmp"

def setup(params):
    global DELAY, REDUCE_DELAY, SLOW_FILE, SLOW_FACTOR, RUN, MARKER_DIR
    DELAY = float(params.get("delay", "0"))
    REDUCE_DELAY = float(params.get("reduce_delay", "0"))
    SLOW_FILE = params.get("slow_file", "")
    SLOW_FACTOR = float(params.get("slow_factor", "1"))
    RUN = params.get("run", "")
    MARKER_DIR = params.get("marker_dir", "/tmp")

_slow = None  # decided on the first record of the split


def _is_slow_first_attempt(key, params_run):
    # The first split of SLOW_FILE is slow on its first attempt only: the first attempt
    # claims a marker file; any later attempt finds it claimed by another process.
    path, offset = key
    if not SLOW_FILE or not path.endswith(SLOW_FILE) or offset >= 65536:
        return False
    marker = os.path.join(MARKER_DIR, "straggler-" + params_run)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def mapper(key, line):
    global _slow
    if _slow is None:
        _slow = _is_slow_first_attempt(key, RUN)
    delay = DELAY * (SLOW_FACTOR if _slow else 1.0)
    if delay:
        time.sleep(delay)
    for word in line.split():
        yield word, 1


def combiner(word, counts):
    yield word, sum(counts)

def reducer(word, counts):
    if REDUCE_DELAY:
        time.sleep(REDUCE_DELAY)
    yield word, sum(counts)
"""


def output_counts(cluster, output: str) -> Counter[str]:
    client = cluster.client()
    counts: Counter[str] = Counter()
    names = sorted(Path(e.path).name for e in client.ls(output))
    assert "_SUCCESS" in names
    for name in names:
        if name.startswith("part-"):
            text = client.read_bytes(f"{output}/{name}").decode()
            for line in text.splitlines():
                key, _, value = line.partition("\t")
                assert key not in counts, f"{key} twice"
                counts[key] = int(value)
    return counts


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "slowcount.py"
    path.write_text(SLOW_JOB)
    return path


def start_submit(cluster, job: Path, output: str, *params: str, extra=()) -> subprocess.Popen:
    args = ["-D", "x=1"]
    for p in params:
        args += ["-D", p]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mr.cli",
            "--cluster",
            str(cluster.dir),
            "submit",
            str(job),
            "--input",
            "/in",
            "--output",
            output,
            "--reducers",
            "2",
            "--json",
            *args,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
        cwd=ROOT,
    )


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=timeout)
    try:
        return proc.returncode, json.loads(out), err
    except ValueError:
        raise AssertionError(
            f"submit printed no JSON (exit {proc.returncode}): {out}\n{err}"
        ) from None


def job_status(cluster) -> dict:
    """Status of the only job, through the CLI (so it follows a failover)."""
    jobs = json.loads(cluster.mr("jobs", "--json", check=True, timeout=60).stdout)
    assert jobs, "no job"
    return json.loads(
        cluster.mr("status", jobs[-1]["job_id"], "--json", check=True, timeout=60).stdout
    )


def wait_for(cluster, condition, what: str, timeout: float = 60) -> dict:
    """The job's status once `condition(status)` holds."""
    last: dict = {}

    def met() -> bool:
        nonlocal last
        try:
            last = job_status(cluster)
        except AssertionError:  # no job yet, or the CLI failed over
            last = {}
        return bool(last) and condition(last)

    cluster.wait_until(met, timeout, what)
    return last


def put_input(cluster, count: int = 2) -> list[Path]:
    files = SAMPLES[:count]
    cluster.gfs("mkdir", "-p", "/in", check=True)
    cluster.gfs("put", *map(str, files), "/in/", check=True)
    return files


def running_on(status: dict, prefix: str) -> list[str]:
    return sorted(
        {
            a["worker"]
            for a in status["attempts"]
            if a["state"] == "RUNNING" and a["task"].startswith(prefix)
        }
    )


def done_maps_on(status: dict) -> dict[str, int]:
    counts: Counter[str] = Counter(
        a["worker"]
        for a in status["attempts"]
        if a["state"] == "SUCCEEDED" and a["task"].startswith("m-")
    )
    return dict(counts)


MR_FAULTS = {"masters": 1, "workers": 3, "dead_after": 2.0, "heartbeat_interval": 0.1}


def test_worker_killed_mid_map(cluster_factory, job_file: Path) -> None:
    cluster = cluster_factory(mr=MR_FAULTS, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    proc = start_submit(cluster, job_file, "/out", "delay=0.002")
    status = wait_for(cluster, lambda s: running_on(s, "m-"), "maps running")
    victim = running_on(status, "m-")[0]
    cluster.kill(victim)
    code, final, err = finish(proc)
    assert code == 0, err
    assert final["state"] == "SUCCEEDED"
    lost = [a for a in final["attempts"] if a["state"] == "LOST"]
    assert lost and all(a["worker"] == victim for a in lost)
    for attempt in lost:  # each lost task ran again elsewhere, successfully
        assert any(
            a["task"] == attempt["task"] and a["state"] == "SUCCEEDED" and a["worker"] != victim
            for a in final["attempts"]
        )
    assert output_counts(cluster, "/out") == wordcount_reference(files)


def test_worker_with_finished_maps_killed_in_reduce_phase(cluster_factory, job_file: Path) -> None:
    cluster = cluster_factory(mr=MR_FAULTS, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    # Reduces are slow, so the reduce phase lasts; maps are quick.
    proc = start_submit(cluster, job_file, "/out", "reduce_delay=0.001")
    status = wait_for(
        cluster,
        lambda s: s["maps"]["done"] == s["maps"]["total"] and running_on(s, "r-"),
        "all maps done and reduces running",
    )
    holders = done_maps_on(status)
    reducers = set(running_on(status, "r-"))
    # Prefer a worker that ran maps but runs no reduce: only its map outputs are lost.
    victim = max(holders, key=lambda w: (w not in reducers, holders[w]))
    cluster.kill(victim)
    code, final, err = finish(proc)
    assert code == 0, err
    assert final["state"] == "SUCCEEDED"
    assert final["counters"]["reexecuted_maps"] >= 1
    redone = {
        a["task"]
        for a in final["attempts"]
        if a["task"].startswith("m-")
        and a["state"] == "SUCCEEDED"
        and a["worker"] != victim
        and any(
            b["task"] == a["task"] and b["worker"] == victim and b["state"] == "SUCCEEDED"
            for b in final["attempts"]
        )
    }
    assert len(redone) == holders[victim], "every map finished on the dead worker ran again"
    assert output_counts(cluster, "/out") == wordcount_reference(files)


def test_reduces_holding_every_slot_give_one_up_to_a_lost_map(
    cluster_factory, job_file: Path, tmp_path: Path
) -> None:
    """One slot per worker: once every map is out, the reduces take the two free workers'
    slots and wait. Killing the worker that runs the last map leaves that map only slots
    the reduces hold; one reduce is preempted (killed, not failed), the map runs in its
    slot, and the job ends with the exact output. Without preemption it never ends."""
    cluster = cluster_factory(mr={**MR_FAULTS, "slots": 1}, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)  # 10 maps on 3 slots
    slow = [f"slow_file={files[1].name}", "slow_factor=20", f"marker_dir={tmp_path}"]
    # The slow map is the last one running once the others are done.
    proc = start_submit(
        cluster, job_file, "/out", "delay=0.001", *slow, "run=preempt", extra=("--no-speculation",)
    )

    def reduces_wait_on_an_early_map(s: dict) -> bool:
        maps = [a for a in s["attempts"] if a["task"].startswith("m-")]
        last = [a for a in maps if a["state"] == "RUNNING"]
        return len(running_on(s, "r-")) == 2 and len(last) == 1 and last[0]["progress"] < 0.5

    try:
        status = wait_for(cluster, reduces_wait_on_an_early_map, "reduces waiting for a map", 120)
        cluster.kill(running_on(status, "m-")[0])
        code, final, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert code == 0, err
    assert final["counters"]["preempted_reduces"] >= 1
    preempted = [a for a in final["attempts"] if "preempted" in a["error"]]
    assert preempted and all(a["state"] == "KILLED" for a in preempted), final["attempts"]
    assert output_counts(cluster, "/out") == wordcount_reference(files)


MR_HA = {"masters": 2, "workers": 3, "dead_after": 2.0, "heartbeat_interval": 0.1}


def active_master(cluster) -> str | None:
    rows = cluster.status()
    active = [n for n, r in rows.items() if r["role"] == "active" and r["alive"]]
    return active[0] if active else None


def wait_new_active(cluster, old: str, timeout: float) -> tuple[str, float]:
    """The master that took over from `old`, and how long that took."""
    start = time.monotonic()
    new: list[str] = []

    def taken_over() -> bool:
        name = active_master(cluster)
        new[:] = [name] if name and name != old else []
        return bool(new)

    cluster.wait_until(taken_over, timeout, f"a master to take over from {old}")
    return new[0], time.monotonic() - start


@pytest.mark.parametrize("phase", ["map", "reduce"])
def test_active_master_killed(cluster_factory, job_file: Path, phase: str) -> None:
    cluster = cluster_factory(mr=MR_HA, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    if phase == "map":
        proc = start_submit(cluster, job_file, "/out", "delay=0.003")
        wait_for(cluster, lambda s: s["maps"]["done"] >= 1 and running_on(s, "m-"), "maps")
    else:
        proc = start_submit(cluster, job_file, "/out", "reduce_delay=0.001")
        wait_for(
            cluster,
            lambda s: s["maps"]["done"] == s["maps"]["total"] and running_on(s, "r-"),
            "reduces running",
        )
    old = active_master(cluster)
    assert old
    cluster.kill("master")
    session = cluster.config.zookeeper.session_timeout
    new, took = wait_new_active(cluster, old, session + 15)
    code, final, err = finish(proc)
    assert code == 0, err
    assert final["state"] == "SUCCEEDED"
    assert any("resumed by a new master" in e for e in final["events"])
    counts = output_counts(cluster, "/out")  # asserts each key in exactly one part
    assert counts == wordcount_reference(files)
    parts = [e.path for e in cluster.client().ls("/out")]
    assert sorted(Path(p).name for p in parts) == ["_SUCCESS", "part-00000", "part-00001"]
    # Tasks done before the failover still count, once each.
    lines = sum(len(f.read_text(errors="replace").splitlines()) for f in files)
    assert final["counters"]["map_input_records"] == lines, final["counters"]
    assert final["counters"]["reduce_output_records"] == len(counts), final["counters"]
    print(f"{new} took over from {old} in {took:.1f}s (session timeout {session}s)")


def test_submit_resent_after_a_failover_is_one_job(cluster_factory, job_file: Path) -> None:
    """A Submit whose reply died with its master is sent again to the successor (as the
    client does on UNAVAILABLE): it finds the job the first one created, which runs once."""
    from mr.client import MrClient
    from mr.job import dumps_job, load_job_file
    from mr.jobcli import job_params
    from mr.proto import mr_pb2

    cluster = cluster_factory(mr=MR_HA, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    job = load_job_file(job_file)
    params = job_params(job, cluster.dir, ["/in"], 2, {"x": "1"})
    spec = mr_pb2.JobSpec(
        name="resent",
        inputs=["/in"],
        output="/out",
        reducers=2,
        params=params,
        input_format=job.input_format,
        speculation=True,
        submission_id="resent-after-failover",
    )
    request = mr_pb2.SubmitRequest(spec=spec, code=dumps_job(job))
    with MrClient(cluster.dir) as client:
        first = client.call("Submit", request).job_id
        old = active_master(cluster)
        assert old
        cluster.kill("master")
        wait_new_active(cluster, old, cluster.config.zookeeper.session_timeout + 15)
        assert client.call("Submit", request).job_id == first
        final = client.wait(first)
        assert final.state == "SUCCEEDED", final.error
        assert [j.job_id for j in client.jobs()] == [first]
    assert output_counts(cluster, "/out") == wordcount_reference(files)


def test_failover_resumes_on_the_splits_of_the_submit(cluster_factory, job_file: Path) -> None:
    """A file added to the input directory mid-job is not part of the job, and a failover
    does not make it one: the new master resumes on the splits the job was submitted with,
    so every finished map stays credited to its own split."""
    cluster = cluster_factory(mr=MR_HA, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    proc = start_submit(cluster, job_file, "/out", "delay=0.003")
    status = wait_for(cluster, lambda s: s["maps"]["done"] >= 1 and running_on(s, "m-"), "maps")
    root = str(cluster.info.get("zk_root") or "/minimr")
    maps_record = zk.znode(root, f"mr/jobs/{status['job_id']}/maps")
    zk_client = zk.connect(cluster.zk_hosts, cluster.secret)
    try:
        assert zk_client.exists(maps_record)  # the finished maps a successor must know
        # Named to sort first: inputs listed again would shift every split by one task.
        late = "words that came late\n" * 200
        cluster.gfs("put", "-", "/in/0-added-late.txt", input=late, check=True)
        old = active_master(cluster)
        assert old
        cluster.kill("master")
        wait_new_active(cluster, old, cluster.config.zookeeper.session_timeout + 15)
        code, final, err = finish(proc)
        assert code == 0, err
        assert final["state"] == "SUCCEEDED"
        assert any("resumed by a new master" in e for e in final["events"])
        assert output_counts(cluster, "/out") == wordcount_reference(files)
        # An ended job's map records are dropped; its own record stays.
        cluster.wait_until(
            lambda: not zk_client.exists(maps_record), 15, "the map records to be deleted"
        )
        assert zk_client.exists(maps_record.rsplit("/", 1)[0])
    finally:
        zk.close(zk_client)


def test_paused_master_is_fenced_and_steps_down(cluster_factory, job_file: Path) -> None:
    cluster = cluster_factory(mr=MR_HA, gfs={"chunk_size": CHUNK})
    files = put_input(cluster)
    proc = start_submit(cluster, job_file, "/out", "delay=0.003")
    wait_for(cluster, lambda s: running_on(s, "m-"), "maps running")
    old = active_master(cluster)
    assert old
    cluster.kill(old, signal="STOP")
    new, _ = wait_new_active(cluster, old, cluster.config.zookeeper.session_timeout + 15)
    cluster.kill(old, signal="CONT")
    resumed_at = time.time()
    code, final, err = finish(proc)
    assert code == 0, err
    assert output_counts(cluster, "/out") == wordcount_reference(files)
    # The old master stepped down (it exits once it learns its session is gone) ...
    cluster.wait_until(lambda: not cluster.alive(old), 30, f"{old} to step down")
    log = cluster.log(old)
    assert "stepping down" in log
    # ... and nothing it said after the pause was acted on: every attempt workers started
    # after the pause came from the new master.
    late_assignments = [
        line for line in log.splitlines() if " assign " in line and _stamp(line) > resumed_at
    ]
    assert late_assignments == [], late_assignments


def _stamp(line: str) -> float:
    import datetime

    try:
        moment = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return 0.0
    return moment.timestamp()


def test_repeated_failover(cluster_factory, job_file: Path) -> None:
    cluster = cluster_factory(mr=MR_HA, gfs={"chunk_size": CHUNK})
    files = put_input(cluster, count=1)
    active = active_master(cluster)
    standby = next(n for n in ("master-0", "master-1") if n != active)
    cluster.kill(standby)
    cluster.restart(standby)
    proc = start_submit(cluster, job_file, "/out", "delay=0.002")
    wait_for(cluster, lambda s: running_on(s, "m-"), "maps running")
    cluster.kill("master")
    second, _ = wait_new_active(cluster, active, cluster.config.zookeeper.session_timeout + 15)
    code, final, err = finish(proc)
    assert code == 0, err
    assert output_counts(cluster, "/out") == wordcount_reference(files)
    # "master" names the active one (the only one left). Restarted, it is a new process
    # that shows the ended job as it ended, from ZooKeeper.
    ended = job_status(cluster)
    restarted = cluster.restart("master").stdout
    assert f"restarted {second}" in restarted, restarted
    timeout = cluster.config.zookeeper.session_timeout + 15
    cluster.wait_until(lambda: active_master(cluster) is not None, timeout, "an active master")
    assert job_status(cluster) == ended
    assert ended["counters"] == final["counters"] and ended["attempts"], ended


def test_straggler_backup_tasks(cluster_factory, job_file: Path, tmp_path: Path) -> None:
    """One map is 20x slower on its first attempt only. With speculation the job takes
    about as long as without the straggler, and a backup wins; without, it waits (it is
    still running, with no backup, at twice the speculative run's time; then it is killed:
    waiting out the straggler would prove nothing more)."""
    cluster = cluster_factory(
        mr={"masters": 1, "workers": 3, "dead_after": 5.0}, gfs={"chunk_size": CHUNK}
    )
    files = put_input(cluster, count=3)  # several waves of maps, as in a real job
    target = files[0].name
    slow = [f"slow_file={target}", "slow_factor=20"]
    durations = {}
    finals = {}
    for name, params in [("normal", []), ("speculation", slow)]:
        output = f"/out-{name}"
        proc = start_submit(
            cluster,
            job_file,
            output,
            "delay=0.001",
            f"run={name}-{tmp_path.name}",
            f"marker_dir={tmp_path}",
            *params,
        )
        code, final, err = finish(proc, timeout=240)
        assert code == 0, err
        durations[name] = final["finished"] - final["submitted"]
        finals[name] = final
        assert output_counts(cluster, output) == wordcount_reference(files)
    print({k: round(v, 2) for k, v in durations.items()})
    assert finals["normal"]["counters"].get("backups_launched", 0) == 0
    assert finals["speculation"]["counters"]["backups_won"] >= 1
    assert durations["speculation"] <= 1.6 * durations["normal"], durations

    launched = time.monotonic()
    proc = start_submit(
        cluster,
        job_file,
        "/out-no-speculation",
        "delay=0.001",
        f"run=no-speculation-{tmp_path.name}",
        f"marker_dir={tmp_path}",
        *slow,
        extra=("--no-speculation",),
    )
    try:
        # The straggler alone sleeps about 20 x a normal map, far beyond this point.
        time.sleep(max(0.0, launched + 2 * durations["speculation"] - time.monotonic()))
        assert proc.poll() is None, "the job without speculation did not wait for its straggler"
        status = job_status(cluster)
        assert status["state"] == "RUNNING", status
        assert status["map_progress"] < 1.0, status
        assert status["counters"].get("backups_launched", 0) == 0, status
        cluster.mr("kill", status["job_id"], check=True, timeout=60)
        code, final, _err = finish(proc, timeout=60)
        assert code == 1 and final["state"] == "KILLED", final
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_crashing_job_with_worker_restarts(cluster_factory) -> None:
    """jobs/crash.py: mappers and reducers that at random os._exit or sleep. Workers that
    die are restarted by the test; the job still succeeds with the right output."""
    cluster = cluster_factory(
        mr={"masters": 1, "workers": 3, "dead_after": 2.0, "max_attempts": 12},
        gfs={"chunk_size": CHUNK},
    )
    files = put_input(cluster, count=3)
    # ~17 tasks at a 40% crash rate: no crash at all has odds of about 0.6**17 (0.02%).
    proc = start_submit(
        cluster, ROOT / "jobs" / "crash.py", "/out", "crash_rate=0.4", "sleep_seconds=2"
    )
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        for name in ("worker-0", "worker-1", "worker-2"):
            if not cluster.alive(name):
                cluster.restart(name)
        time.sleep(0.5)
    code, final, err = finish(proc, timeout=10)
    assert code == 0, err
    died = [a for a in final["attempts"] if "died" in a["error"]]
    assert died, "no attempt crashed: the test proved nothing"
    assert output_counts(cluster, "/out") == wordcount_reference(files)
