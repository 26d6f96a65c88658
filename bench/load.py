"""Load: many people browsing and asking questions at once, against the real server.

    .venv/bin/python -m bench.load [--browsers 50] [--askers 10] [--accounts 10]
                                   [--duration 60] [--warmup 10] [--think 3.0]
                                   [--server gunicorn|runserver]

Everything runs for real on this machine: a private Redis, a throwaway database (SQLite in a
temporary folder, or PostgreSQL with DATABASE_URL=postgres://...), one `celery worker`
(the scripted model backend, CARREL_BACKEND=scripted), and the web server as a lab server
runs it: gunicorn with deploy/gunicorn.conf.py (threaded workers, one per core).

Setup: --accounts accounts, each with a research project whose two papers from
../shared/data/papers the worker ingests, a few flashcards, a campaign of three turns, and
one answered question. Then --browsers simulated people sign in through the login form
(with its CSRF token) and open main pages at random, pausing between pages for --think
seconds on average (uniformly 1/3x to 5/3x: 1-5 s by default, like Locust's quick start;
--think 1 is a stress test at three times the rate). Meanwhile --askers people ask
questions the way the browser does: the htmx POST, then the answer's server-sent events
(research.qa.views.stream), which run the model (scripted) inside the web process; about
half of their questions are follow-ups in the same thread. Several people may share one
account, each with their own session.

Reported, for the --duration seconds after --warmup: p50/p95/max latency of every main
page (the whole response read), of the first streamed byte of an answer (the first
`token` event) and of the complete answer; the errors (any status >= 400, a failed
answer, a dropped connection); and the CPU each process used, including other processes
on the machine, which skew the numbers when they run. The baseline, measured in the same
run under the same load: /healthz (one database query, no template) and a static file;
every page is also timed alone before the load starts. Target: p95 of pages under 200 ms
on this 2-core machine, and no errors. The load generator shares the machine with the
server (it is light: about a tenth of a core).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import setup_django
from bench.harness import database_url

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT.parent / "shared" / "data" / "papers"
SEED_PAPERS = ("pdflatex-4-pages.pdf", "multicolumn.pdf")
PASSWORD = "load test horse 42"
STATIC_FILE = "/static/css/carrel.css"
QUESTIONS = (
    "What is this document about?",
    "Which figures or tables does it mention?",
    "What does the text say about fonts?",
    "Summarize the first page in two sentences.",
    "What would a reader learn from the last page?",
)
TARGET_P95 = 0.200
MACHINE = "the whole machine"
BASELINES = (("baseline: /healthz", "/healthz"), ("baseline: static", STATIC_FILE))


# -- numbers ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


@dataclass
class Samples:
    """Latencies by name, kept only inside the measuring window."""

    window: tuple[float, float] = (float("inf"), float("inf"))
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    counted_errors: int = 0
    retries: int = 0  # requests resent on a keep-alive connection the server had closed
    cpu: dict[str, float] = field(default_factory=dict)  # cores used in the window, by process

    def retried(self, started: float) -> None:
        if self.measuring(started):
            self.retries += 1

    def measuring(self, started: float) -> bool:
        return self.window[0] <= started < self.window[1]

    def add(self, name: str, started: float, seconds: float) -> None:
        if self.measuring(started):
            self.times[name].append(seconds)

    def error(self, started: float, what: str) -> None:
        if self.measuring(started):
            self.counted_errors += 1
            if len(self.errors) < 20:
                self.errors.append(what)


# -- the processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(*, group: int = 0, pid: int = 0, command: str = "") -> float:
    """User + system CPU of one process, of every live process in a process group or with
    a given command name, with the children they reaped (a gunicorn worker restarted by
    max_requests); from /proc."""
    ticks = 0
    for stat in Path("/proc").glob(f"{pid or '[0-9]*'}/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = tail.split()
        if pid or int(fields[2]) == group or head.partition("(")[2] == command:
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_now(groups: dict[str, int], pids: dict[str, int]) -> dict[str, float]:
    used = {name: cpu_seconds(group=group) for name, group in groups.items()}
    used.update({name: cpu_seconds(pid=pid) for name, pid in pids.items()})
    used["postgresql (all its processes, anyone's)"] = cpu_seconds(command="postgres")
    times = os.times()
    used["load generator (this process)"] = times.user + times.system
    with open("/proc/stat") as stat:  # the whole machine: every CPU's busy time
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    used[MACHINE] = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return used


async def measure_cpu(
    samples: Samples, groups: dict[str, int], pids: dict[str, int], start: float, stop: float
) -> None:
    """Cores each process used during the measuring window."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    before, began = cpu_now(groups, pids), time.perf_counter()
    await asyncio.sleep(max(0.0, stop - time.perf_counter()))
    after, elapsed = cpu_now(groups, pids), time.perf_counter() - began
    samples.cpu = {name: (after[name] - before[name]) / elapsed for name in before}


class Processes:
    """The worker and the web server, each in its own process group, stopped together."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []
        self.groups: dict[str, int] = {}  # name -> process group (= the process's pid)

    def start(self, name: str, command: list[str], extra: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        self.groups[name] = process.pid

    def check(self) -> None:
        for process in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited; see the logs in {self.logs}")

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def start_worker(processes: Processes) -> None:
    from workspace.celery import app

    name = f"load-{os.getpid()}@%h"
    processes.start(
        "worker",
        [
            sys.executable, "-m", "celery", "-A", "workspace", "worker", "--concurrency=2",
            "--pool=prefork", "-n", name, "--without-gossip", "--without-mingle",
            "--loglevel=WARNING",
        ],
    )  # fmt: skip
    wanted = name.replace("%h", "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes.check()
        replies = app.control.ping(timeout=0.5) or []
        if any(wanted in key for reply in replies for key in reply):
            return
    raise RuntimeError(f"the worker did not answer a ping in 60 s; see {processes.logs}")


def start_web(processes: Processes, *, server: str, port: int) -> str:
    if server == "gunicorn":
        command = [
            sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "workspace.wsgi",
        ]  # fmt: skip
    else:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    processes.start("web", command, {"CARREL_BIND": f"127.0.0.1:{port}"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes.check()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer /healthz in 60 s; see {processes.logs}")


# -- the data -----------------------------------------------------------------------------------


@dataclass
class Account:
    username: str
    project_id: int
    document_ids: list[int]
    pages: list[tuple[int, int]]  # (document id, page number)
    campaign_id: int
    thread_id: int = 0

    def main_pages(self) -> dict[str, list[str]]:
        """Page name -> the URLs of that page this account can open."""
        c, k = self.project_id, self.campaign_id
        return {
            "home": ["/"],
            "project list": ["/research/"],
            "project": [f"/research/{c}/"],
            "document": [f"/research/documents/{d}/" for d in self.document_ids],
            "reading view": [f"/research/documents/{d}/pages/{n}/" for d, n in self.pages],
            "ask": [f"/research/{c}/ask/"],
            "Q&A thread": [f"/research/threads/{self.thread_id}/"],
            "flashcards": [f"/research/{c}/flashcards/"],
            "review": [f"/research/{c}/review/"],
            "timeline": [f"/research/{c}/timeline/"],
            "campaign list": ["/stories/"],
            "campaign": [f"/stories/{k}/"],
            "campaign timeline": [f"/stories/{k}/timeline/"],
        }


def seed(count: int) -> list[Account]:
    """Accounts with ingested papers (by the real worker), flashcards and a campaign."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile

    from research.library import services
    from research.models import Document, Page
    from research.study.generators import flashcards
    from stories import services as story_services
    from stories.scripting import StoryScript
    from stories.turns import turn_play
    from workspace.runtime import use_runtime
    from workspace.runtime.scripted import ScriptedRuntime

    hashed = make_password(PASSWORD)  # one hash for every account: sign-in still checks it
    users = User.objects.bulk_create(
        [User(username=f"load{i:02d}", password=hashed) for i in range(count)]
    )
    files = [(name, (PAPERS / name).read_bytes()) for name in SEED_PAPERS]
    projects = []
    for user in users:
        project = services.project_create(owner=user, title=f"Papers of {user.username}")
        services.document_upload(
            project=project,
            uploaded_by=user,
            files=[SimpleUploadedFile(name, data) for name, data in files],
        )
        projects.append(project)
    documents = Document.objects.filter(project__in=projects)
    deadline = time.monotonic() + 900
    while documents.exclude(stage__in=Document.FINISHED_STAGES).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the papers were not ingested in 15 minutes")
        time.sleep(0.2)
    failed = documents.exclude(stage=Document.Stage.READY).first()
    if failed is not None:
        raise RuntimeError(f"{failed.original_name} did not become ready: {failed.error}")

    accounts = []
    for user, project in zip(users, projects, strict=True):
        docs = list(project.documents.order_by("pk"))
        for number in range(1, 6):
            flashcards.flashcard_create(
                project=project,
                kind="basic",
                front=f"What does page {number} of {docs[0].title} cover?",
                back="What the page says, in a sentence.",
                document=docs[0],
                pages=[min(number, docs[0].page_count)],
            )
        campaign = story_services.campaign_create(
            owner=user, title=f"{user.username}'s harbor", premise="A harbor town."
        )
        script = StoryScript()
        script.add(
            "Ada arrives at the Harbor.",
            [
                {"kind": "create", "entity_kind": "location", "name": "Harbor"},
                {"kind": "create", "entity_kind": "character", "name": "Ada", "location": "Harbor"},
            ],
        )
        script.add(
            "Ada finds a lantern.",
            [
                {"kind": "create", "entity_kind": "item", "name": "Lantern"},
                {"kind": "transfer", "item": "Lantern", "to_holder": "Ada"},
            ],
        )
        script.add("An hour passes.", [{"kind": "clock", "minutes": 60}])
        member = campaign.members.select_related("user", "campaign").get(user=user)
        with use_runtime(ScriptedRuntime(script)):
            for action in ("I arrive.", "I look around.", "I wait."):
                turn_play(campaign=campaign, member=member, action=action)
        pages = list(
            Page.objects.filter(document__in=docs)
            .order_by("document_id", "number")
            .values_list("document_id", "number")
        )
        accounts.append(
            Account(
                username=user.username,
                project_id=project.pk,
                document_ids=[d.pk for d in docs],
                pages=pages,
                campaign_id=campaign.pk,
            )
        )
    return accounts


# -- one simulated person -----------------------------------------------------------------------


class Person:
    def __init__(self, base: str, account: Account, samples: Samples) -> None:
        self.account = account
        self.samples = samples
        self.client = httpx.AsyncClient(base_url=base, timeout=60.0, follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken") or ""

    async def sign_in(self) -> None:
        """Through the login form, with the CSRF token its page set."""
        started = time.perf_counter()
        page = await self.send("GET", "/accounts/login/")
        page.raise_for_status()
        answer = await self.send(
            "POST",
            "/accounts/login/",
            data={
                "username": self.account.username,
                "password": PASSWORD,
                "next": "",
                "csrfmiddlewaretoken": self.csrf(),
            },
        )
        if answer.status_code != 302 or answer.headers.get("location") != "/":
            raise RuntimeError(f"sign-in of {self.account.username} failed: {answer.status_code}")
        self.samples.add("sign-in (form and POST)", started, time.perf_counter() - started)

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """As a browser does: a request that fails because the server closed the kept-alive
        connection under it (a gunicorn worker restarting after max_requests) is sent again,
        once, on a new connection. Counted apart from errors."""
        started = time.perf_counter()
        try:
            return await self.client.request(method, url, **kwargs)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            self.samples.retried(started)
            return await self.client.request(method, url, **kwargs)

    async def open(self, name: str, url: str) -> str:
        started = time.perf_counter()
        try:
            response = await self.send("GET", url)
        except httpx.HTTPError as exc:
            self.samples.error(started, f"{name} {url}: {type(exc).__name__}: {exc}")
            return ""
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            self.samples.error(started, f"{name} {url}: HTTP {response.status_code}")
            return ""
        self.samples.add(name, started, seconds)
        return response.text

    async def browse(self, stop: float, think: float) -> None:
        pages = self.account.main_pages()
        names = sorted(pages)
        while time.perf_counter() < stop:
            name = random.choice(names)
            await self.open(name, random.choice(pages[name]))
            await asyncio.sleep(random.uniform(1 / 3, 5 / 3) * think)

    async def ask(self, question: str, thread_id: int = 0) -> int:
        """Ask as htmx does (a new thread, or a follow-up in thread_id), then read the
        answer's event stream. The thread's id, or 0 when something failed."""
        headers = {"HX-Request": "true", "X-CSRFToken": self.csrf()}
        started = time.perf_counter()
        try:
            if thread_id:
                url = f"/research/threads/{thread_id}/"
                posted = await self.send("POST", url, data={"question": question}, headers=headers)
                posted_in = time.perf_counter() - started
                found = re.findall(r'id="question-(\d+)"', posted.text)
                question_id = int(found[-1]) if posted.status_code == 200 and found else 0
            else:
                url = f"/research/{self.account.project_id}/ask/"
                posted = await self.send(
                    "POST", url, data={"question": question, "scope": "all"}, headers=headers
                )
                posted_in = time.perf_counter() - started
                target = posted.headers.get("HX-Redirect", "")
                match = re.search(r"/threads/(\d+)/#question-(\d+)", target)
                if posted.status_code == 204 and match:
                    thread_id, question_id = int(match[1]), int(match[2])
                    await self.open("Q&A thread", f"/research/threads/{thread_id}/")
                else:
                    question_id = 0
            if not question_id:
                self.samples.error(started, f"asking at {url}: HTTP {posted.status_code}")
                return 0
            self.samples.add("question POST", started, posted_in)
            if not await self.stream(question_id):
                return 0
        except httpx.HTTPError as exc:
            self.samples.error(started, f"asking: {type(exc).__name__}: {exc}")
            return 0
        return thread_id

    async def stream(self, question_id: int) -> bool:
        started = time.perf_counter()
        first_token = 0.0
        received = b""
        url = f"/research/questions/{question_id}/stream/"
        async with self.client.stream("GET", url) as response:
            if response.status_code != 200:
                self.samples.error(started, f"stream {url}: HTTP {response.status_code}")
                return False
            async for chunk in response.aiter_raw():
                received += chunk
                if not first_token and b"event: token" in received:
                    first_token = time.perf_counter() - started
        done = time.perf_counter() - started
        if b"event: done" not in received or b'data-status="done"' not in received:
            self.samples.error(started, f"stream {url}: no answer ({received[-300:]!r})")
            return False
        if not first_token:
            self.samples.error(started, f"stream {url}: the answer came without tokens")
            return False
        self.samples.add("answer: first streamed byte", started, first_token)
        self.samples.add("answer: complete", started, done)
        return True

    async def keep_asking(self, stop: float, think: float) -> None:
        thread_id = 0
        while time.perf_counter() < stop:
            question = random.choice(QUESTIONS)
            thread_id = await self.ask(question, thread_id if thread_id else 0)
            if random.random() < 0.5:
                thread_id = 0  # next time, a new conversation
            await asyncio.sleep(random.uniform(1 / 3, 5 / 3) * think)


async def probe_baseline(base: str, samples: Samples, stop: float) -> None:
    """/healthz and a static file, four times a second, under the same load."""
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
        while time.perf_counter() < stop:
            for name, url in BASELINES:
                started = time.perf_counter()
                response = await client.get(url)
                if response.status_code == 200:
                    samples.add(name, started, time.perf_counter() - started)
                else:
                    samples.error(started, f"{url}: HTTP {response.status_code}")
                await asyncio.sleep(0.125)


# -- the run ------------------------------------------------------------------------------------


async def alone(base: str, account: Account, repeats: int) -> Samples:
    """Every main page, /healthz and the static file, one request at a time, no load."""
    samples = Samples()
    person = Person(base, account, samples)
    try:
        await person.sign_in()
        urls = {name: urls[0] for name, urls in account.main_pages().items()}
        urls.update(dict(BASELINES))
        for name, url in urls.items():
            await person.open(name, url)  # warm, not counted
        samples.window = (time.perf_counter(), float("inf"))
        for _ in range(repeats):
            for name, url in urls.items():
                await person.open(name, url)
        for number in range(repeats):
            await person.ask(QUESTIONS[number % len(QUESTIONS)])
        for _ in range(3):
            await person.open("status (first worker ping 1 s, kept 10 s)", "/status/")
    finally:
        await person.close()
    return samples


async def prepare_threads(base: str, accounts: Sequence[Account]) -> None:
    """One answered question per account, so the thread pages have something to show."""
    samples = Samples()
    for account in accounts:
        person = Person(base, account, samples)
        try:
            await person.sign_in()
            account.thread_id = await person.ask("What is this document about?")
            if not account.thread_id:
                raise RuntimeError(f"the first question of {account.username} failed")
        finally:
            await person.close()


async def load(
    base: str,
    accounts: Sequence[Account],
    *,
    browsers: int,
    askers: int,
    duration: float,
    warmup: float,
    think: float,
    groups: dict[str, int],
    pids: dict[str, int],
) -> Samples:
    samples = Samples()
    people = [Person(base, accounts[i % len(accounts)], samples) for i in range(browsers + askers)]
    try:
        await asyncio.gather(*(person.sign_in() for person in people))
        start = time.perf_counter() + warmup
        stop = start + duration
        samples.window = (start, stop)
        tasks = [person.browse(stop, think) for person in people[:browsers]]
        tasks += [person.keep_asking(stop, think) for person in people[browsers:]]
        await asyncio.gather(
            *tasks,
            probe_baseline(base, samples, stop),
            measure_cpu(samples, groups, pids, start, stop),
        )
    finally:
        await asyncio.gather(*(person.close() for person in people))
    return samples


def row(name: str, values: Sequence[float], base: tuple[float, float] | None) -> str:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    ratio = f"{p50 / base[0]:8.1f}x {p95 / base[1]:8.1f}x" if base else ""
    return f"  {name:34} {len(values):6} {ms(p50)} {ms(p95)} {ms(max(values))}  {ratio}"


HEADER = (
    f"  {'':34} {'n':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}  {'p50/base':>9} {'p95/base':>9}"
)


def report(idle: Samples, busy: Samples, args: argparse.Namespace) -> bool:
    extras = ("sign-in (form and POST)", "question POST")
    answers = ("answer: first streamed byte", "answer: complete")

    def pages_of(samples: Samples) -> list[str]:
        return [
            name
            for name in sorted(samples.times)
            if not name.startswith(("baseline", "answer", "status")) and name not in extras
        ]

    def table(samples: Samples, names: Sequence[str]) -> None:
        healthz = samples.times["baseline: /healthz"]
        base = (percentile(healthz, 0.5), percentile(healthz, 0.95))
        print(HEADER)
        for name in names:
            if samples.times.get(name):
                print(row(name, samples.times[name], base))

    print("\nAlone (one request at a time, before the load; ratios against /healthz alone):")
    status = [name for name in idle.times if name.startswith("status")]
    table(idle, ["baseline: /healthz", "baseline: static", *pages_of(idle), *answers, *status])

    low, high = args.think / 3, args.think * 5 / 3
    print(
        f"\nUnder load: {args.browsers} people browsing (a page every {low:.1f}-{high:.1f} s), "
        f"{args.askers} asking (a question every {low:.1f}-{high:.1f} s after the answer); "
        f"{args.duration:.0f} s after a {args.warmup:.0f} s warm-up; ratios against /healthz "
        "under the same load:"
    )
    pages = pages_of(busy)
    busy.times["MAIN PAGES (all)"] = [value for name in pages for value in busy.times[name]]
    table(
        busy,
        [
            "baseline: /healthz",
            "baseline: static",
            "MAIN PAGES (all)",
            *pages,
            *answers,
            "question POST",
        ],
    )
    all_pages = busy.times["MAIN PAGES (all)"]
    print(
        f"\n  throughput: {len(all_pages) / args.duration:.1f} pages/s, "
        f"{len(busy.times['answer: complete']) / args.duration:.2f} answers/s"
    )
    if busy.cpu:
        cpu = dict(busy.cpu)
        machine = cpu.pop(MACHINE)
        cpu["other processes on the machine"] = max(0.0, machine - sum(cpu.values()))
        used = ", ".join(f"{name} {cores:.2f}" for name, cores in cpu.items())
        print(f"  CPU in the window, in cores (of {os.cpu_count()}): {used}")
    print(
        f"  errors: {busy.counted_errors}; requests resent on a connection the server closed "
        f"(as a browser does): {busy.retries}"
    )
    for error in busy.errors:
        print(f"    {error}")
    p95 = percentile(all_pages, 0.95)
    ok = p95 < TARGET_P95 and busy.counted_errors == 0
    print(
        f"  target (p95 of pages < {TARGET_P95 * 1000:.0f} ms, no errors): "
        f"{'met' if ok else 'NOT met'} (p95 {p95 * 1000:.0f} ms, {busy.counted_errors} errors)"
    )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--browsers", type=int, default=50)
    parser.add_argument("--askers", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=3.0, help="mean seconds between pages")
    parser.add_argument("--repeats", type=int, default=10, help="requests per page alone")
    parser.add_argument("--server", choices=("gunicorn", "runserver"), default="gunicorn")
    args = parser.parse_args(argv)

    var = Path(tempfile.mkdtemp(prefix="carrel-bench-load-"))
    os.environ["CARREL_VAR_DIR"] = str(var)
    os.environ["MEDIA_ROOT"] = str(var / "media")
    os.environ["CARREL_BACKEND"] = "scripted"
    os.environ["OLLAMA_HOST"] = "http://127.0.0.1:9"  # nothing listens: never probed
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from workspace.local_redis import start_private_redis

    redis = start_private_redis(workdir=var / "redis")
    os.environ["REDIS_URL"] = redis.url
    setup_django()
    import logging

    from django.db import connection

    logging.getLogger("celery").setLevel(logging.ERROR)
    if connection.vendor != "sqlite":  # never the name pytest's test runs use
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "carrel_bench_load"
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "false",
    }
    (var / "logs").mkdir()
    processes = Processes(env, var / "logs")
    try:
        start_worker(processes)
        began = time.perf_counter()
        accounts = seed(args.accounts)
        print(
            f"database: {connection.vendor}; redis: {redis.url}; {args.accounts} accounts, "
            f"{2 * args.accounts} papers ingested in {time.perf_counter() - began:.0f} s"
        )
        port = free_port()
        base = start_web(processes, server=args.server, port=port)
        web = "gunicorn, deploy/gunicorn.conf.py" if args.server == "gunicorn" else "runserver"
        print(f"web: {web} at {base}; {os.cpu_count()} cores; logs in {var / 'logs'}")
        asyncio.run(prepare_threads(base, accounts))
        idle = asyncio.run(alone(base, accounts[0], args.repeats))
        busy = asyncio.run(
            load(
                base,
                accounts,
                browsers=args.browsers,
                askers=args.askers,
                duration=args.duration,
                warmup=args.warmup,
                think=args.think,
                groups=processes.groups,
                pids={"redis": redis.process.pid},
            )
        )
        processes.check()
        ok = report(idle, busy, args)
    finally:
        processes.stop()
        connection.creation.destroy_test_db(database, verbosity=0)
        redis.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
