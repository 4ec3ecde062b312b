"""`make bench`: plan-watcher at scale against the simulator over HTTP, beside an AWS CLI peer.

    .venv/bin/python -m bench.scale [--latency-ms 30] [--steady-cycles 3] [--peer-sample 3]

Starts `python -m bench.serve` (1,000 plans, 10,000 jobs of which 2,000 InProgress, 50
clusters, 4 regions, 30 ms added to every call), then measures the real `plan-watcher`
process: `once` (a cold first cycle), and the daemon `run` (time to its first completed cycle,
AWS calls and wall time of steady-state cycles from /metrics, peak RSS from /proc). The lower
bound on calls and the critical path are derived in docs/performance.md; this script computes
them from the estate and the cycle's own decisions and prints every figure beside its target.
It never fails on timing: it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.costs import LowerBound, TargetFacts, critical_path, lower_bound, peer_estimate
from bench.longrun import run_long
from bench.world import Sizes, regions, watcher_config
from watcher.config.values import parse_duration

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "PYTHONUNBUFFERED": "1",
}
for _name in (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "PLAN_WATCHER_MODE",
):
    ENV.pop(_name, None)
SEARCHED = {"would_extend", "extended", "no_offering", "over_budget", "proposed"}
NOT_DUE = {"not_due", "unmanaged", "expired"}


@dataclass
class Server:
    process: subprocess.Popen[str]
    endpoint: str
    calls_url: str
    seeded: list[dict[str, Any]]

    def calls(self) -> Counter[str]:
        with urllib.request.urlopen(self.calls_url, timeout=10) as response:
            return Counter(json.load(response))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def start_server(args: argparse.Namespace) -> Server:
    command = [sys.executable, "-m", "bench.serve", "--latency-ms", str(args.latency_ms)]
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = dict(process.stdout.readline().rstrip().split(" ", 1) for _ in range(4))
    return Server(process, lines["sagemaker"], lines["calls"], json.loads(lines["seeded"]))


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def round_trips(server: Server, region: str, samples: int = 7) -> dict[str, float]:
    """Median seconds per call of each operation on an idle server, from this process,
    through the client plan-watcher itself uses (its model, its parsing)."""
    import boto3

    from watcher.aws.sagemaker import SageMakerGateway
    from watcher.aws.session import TargetSpec

    session = boto3.Session(
        region_name=region, aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    try:
        sm: Any = SageMakerGateway(TargetSpec("bench", region), session, read_attempts=1)._read
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    first = server.seeded[0]
    plan = f"arn:aws:sagemaker:{region}:123456789012:training-plan/{first['due'][0]}"
    ops = {
        "ListTrainingPlans": lambda: sm.list_training_plans(MaxResults=100),
        "ListTrainingJobs": lambda: sm.list_training_jobs(MaxResults=100),
        "ListClusters": lambda: sm.list_clusters(MaxResults=100),
        "DescribeTrainingPlanExtensionHistory": lambda: sm.describe_training_plan_extension_history(
            TrainingPlanArn=plan
        ),
        "SearchTrainingPlanOfferings": lambda: sm.search_training_plan_offerings(
            TrainingPlanArn=plan, DurationHours=72
        ),
    }
    result: dict[str, float] = {}
    for name, call in ops.items():
        call()  # warm the connection and botocore's caches
        times = []
        for _ in range(samples):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        result[name] = statistics.median(times)
    return result


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_once(server: Server, config: Path) -> dict[str, Any]:
    before = server.calls()
    env = {**ENV, "AWS_ENDPOINT_URL": server.endpoint}
    command = [str(BIN / "plan-watcher"), "once", "--config", str(config), "--output", "json"]
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    calls = server.calls() - before
    return {
        "exit": process.returncode,
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "calls": sum(calls.values()),
        "by_operation": dict(calls),
        "decisions": json.loads(out)["decisions"] if out.strip() else [],
    }


def _scrape(url: str) -> tuple[float, float, Counter[str]]:
    """(completed cycles, seconds spent in cycles, AWS calls by operation) from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    _, text = _get(url)
    count = total = 0.0
    calls: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "plan_watcher_reconcile_duration_seconds_count":
                count = sample.value
            elif sample.name == "plan_watcher_reconcile_duration_seconds_sum":
                total = sample.value
            elif sample.name == "plan_watcher_aws_calls_total":
                calls[sample.labels["operation"]] += int(sample.value)
    return count, total, calls


def run_daemon(
    server: Server, config: Path, port: int, cycles: int, interval: float
) -> dict[str, Any]:
    """The daemon's first cycle, then `cycles` steady ones. /metrics is read once per cycle,
    half an interval after the cycle started (a scrape renders every plan's series, and
    scraping while a cycle runs would slow the very cycle measured)."""
    env = {**ENV, "AWS_ENDPOINT_URL": server.endpoint}
    base = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "plan-watcher"), "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while _get(base + "/readyz")[0] != 200:
            if process.poll() is not None:
                raise RuntimeError(f"plan-watcher run exited with {process.returncode}")
            time.sleep(0.02)
        ready = time.perf_counter()
        seen = [_scrape(base + "/metrics")]
        # Cycles start every `interval` from the first one's start (no jitter).
        start = ready - seen[0][1]
        while len(seen) <= cycles:
            due = start + len(seen) * interval + interval / 2
            time.sleep(max(0.0, due - time.perf_counter()))
            now = _scrape(base + "/metrics")
            while now[0] < seen[-1][0] + 1:  # a cycle longer than half an interval
                time.sleep(0.5)
                now = _scrape(base + "/metrics")
            seen.append(now)
        _, status = _get(base + "/status")
        rss = peak_rss_mb(process.pid)
    finally:
        stop(process)
    steady = [(b[1] - a[1], b[2] - a[2], b[0] - a[0]) for a, b in zip(seen, seen[1:], strict=False)]
    return {
        "first_cycle_s": ready - began,
        "first_cycle_calls": sum(seen[0][2].values()),
        "steady_wall_s": [s / n for s, _, n in steady],
        "steady_calls": [sum(c.values()) / n for _, c, n in steady],
        "steady_by_operation": dict(steady[-1][1]),
        "peak_rss_mb": rss,
        "decisions": json.loads(status)["decisions"],
    }


def run_peer(server: Server, sample: int, region_list: list[str]) -> dict[str, Any]:
    env = {**ENV, "AWS_ENDPOINT_URL": server.endpoint, "AWS": str(BIN / "aws")}
    result: dict[str, Any] = {}
    for label, limit in (("listing", 0), ("sample", sample)):
        before = server.calls()
        began = time.perf_counter()
        subprocess.run(
            ["bash", str(ROOT / "bench" / "peer.sh"), *region_list],
            env={**env, "PEER_PLANS_PER_REGION": str(limit)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result[label] = {
            "wall_s": time.perf_counter() - began,
            "calls": sum((server.calls() - before).values()),
        }
    return result


def listing_pages(server: Server, region: str) -> dict[str, int]:
    """Each plan's page (from 1) in ListTrainingPlans, as plan-watcher pages through it."""
    import boto3

    sm: Any = boto3.client(
        "sagemaker",
        region_name=region,
        endpoint_url=server.endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    paginator = sm.get_paginator("list_training_plans")
    found: dict[str, int] = {}
    for number, page in enumerate(paginator.paginate(PaginationConfig={"PageSize": 100}), 1):
        for plan in page["TrainingPlanSummaries"]:
            found[plan["TrainingPlanName"]] = number
    return found


def facts_by_target(
    decisions: list[dict[str, Any]], seeded: list[dict[str, Any]], names: list[str], server: Server
) -> list[TargetFacts]:
    facts = []
    for name, region in zip(names, [s["region"] for s in seeded], strict=True):
        mine = [d for d in decisions if d["target"] == name]
        seed = next(s for s in seeded if s["region"] == region)
        due = [d for d in mine if d["decision"] not in NOT_DUE]
        page_of = listing_pages(server, region)
        facts.append(
            TargetFacts(
                name=name,
                plans=seed["plans"],
                clusters=seed["clusters"],
                due=len(due),
                searched=sum(1 for d in mine if d["decision"] in SEARCHED),
                due_pages=max((page_of[d["plan_name"]] for d in due), default=0),
            )
        )
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--steady-cycles", type=int, default=3)
    parser.add_argument("--interval", default="10s", help="the daemon's poll.interval")
    parser.add_argument("--peer-sample", type=int, default=3, help="plans per region for the peer")
    parser.add_argument(
        "--long-cycles", type=int, default=1000, help="cycles of the long run (0: none)"
    )
    parser.add_argument("--long-interval", default="1s", help="poll.interval of the long run")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--write", type=Path, help="put the figures in this Markdown file's latest-run block"
    )
    args = parser.parse_args(argv)
    sizes = Sizes()

    server = start_server(args)
    try:
        with tempfile.TemporaryDirectory(prefix="plan-watcher-bench-") as tmp:
            results = _measure(args, sizes, server, Path(tmp))
    finally:
        stop(server.process)
    from bench.report import render

    text = render(results)
    print(text)
    if args.write:
        from bench.report import write_latest

        write_latest(args.write, text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def _measure(args: argparse.Namespace, sizes: Sizes, server: Server, tmp: Path) -> dict[str, Any]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = watcher_config(sizes, str(tmp / "journal.db"), f"127.0.0.1:{port}", args.interval)
    path = tmp / "watcher.yaml"
    path.write_text(yaml.safe_dump(config))
    names = [t["name"] for t in config["targets"]]

    load = {"start": os.getloadavg()[0]}
    print("measuring round trips ...", file=sys.stderr)
    rt = round_trips(server, regions(sizes)[0])
    print("plan-watcher once ...", file=sys.stderr)
    once = run_once(server, path)
    print("plan-watcher run ...", file=sys.stderr)
    interval = parse_duration(args.interval).total_seconds()
    daemon = run_daemon(server, path, port, args.steady_cycles, interval)
    load["steady"] = os.getloadavg()[0]
    long = None
    if args.long_cycles > 0:
        print(f"plan-watcher run, {args.long_cycles} cycles ...", file=sys.stderr)
        long = run_long(server, sizes, tmp / "long", args.long_cycles, args.long_interval)
    print("peer (AWS CLI) ...", file=sys.stderr)
    peer = run_peer(server, args.peer_sample, regions(sizes))

    facts = facts_by_target(daemon["decisions"], server.seeded, names, server)
    bound: LowerBound = lower_bound(facts)
    path_s, chain = critical_path(facts, rt)
    active = sum(len(s["due"]) + len(s["far"]) for s in server.seeded)
    sampled = args.peer_sample * len(server.seeded)
    return {
        "sizes": sizes.__dict__,
        "latency_ms": args.latency_ms,
        "round_trips_s": rt,
        "once": {k: v for k, v in once.items() if k != "decisions"},
        "daemon": {k: v for k, v in daemon.items() if k != "decisions"},
        "facts": [f.__dict__ for f in facts],
        "lower_bound": bound.__dict__,
        "critical_path_s": path_s,
        "critical_path_chain": chain,
        "peer": peer,
        "peer_full": peer_estimate(peer, int(sampled), active),
        "long": long,
        "load": load,
    }


if __name__ == "__main__":
    raise SystemExit(main())
