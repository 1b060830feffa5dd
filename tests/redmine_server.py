"""A real, throwaway Redmine (Debian's ``redmine`` + ``redmine-sqlite`` + ``thin``) for tests.

Start-up, without the slow ``rails runner``:

1. the database: Debian's dbconfig-common has already migrated and loaded the default data
   (statuses, trackers, roles, priorities) into
   ``/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default``; it is
   *copied* into a temporary directory so the installed instance is never touched. Without
   it (another database backend, or not root so unreadable), ``rake db:migrate
   redmine:load_default_data`` builds one in the temporary directory (slower).
2. the REST API switch (setting ``rest_api_enabled``; also cross-project relations) and an admin API key (a ``tokens``
   row) are written straight into that copy with SQLite, before the server starts;
3. ``bin/rails server -u thin`` on 127.0.0.1 with ``DATABASE_URL`` pointing at the copy
   (Rails merges it over ``config/database.yml``) and its own pid file.

One server per test session, shared by every module (``redmine_server()`` caches it and
stops it at exit); tests create their data through the REST API. Missing packages skip
the tests on a laptop and fail them in CI (``CI`` set), like the PostgreSQL fixture.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

REDMINE_ROOT = Path(os.environ.get("PMOHUB_REDMINE_ROOT", "/usr/share/redmine"))
TEMPLATE_DB = Path(
    os.environ.get(
        "PMOHUB_REDMINE_DB",
        "/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default",
    )
)
START_TIMEOUT_S = 180.0
CUSTOM_FIELDS = {"Story points": "float", "Risk probability": "string"}
TOKEN_ENV = "REDMINE_TEST_KEY"

_server: RedmineServer | None = None
_failure: str | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _usable_template(path: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM issue_statuses").fetchone()[0] > 0
    except (sqlite3.Error, OSError):
        return False


@dataclass
class RedmineServer:
    dir: Path
    port: int
    api_key: str
    process: subprocess.Popen[bytes] | None = None
    started_in_s: float = 0.0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a connector needs in its environment (the key's variable)."""
        return {TOKEN_ENV: self.api_key}

    # --- REST helpers for tests ----------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        r = requests.request(
            method,
            f"{self.url}{path}",
            json=body,
            params=params or None,
            headers={"X-Redmine-API-Key": self.api_key},
            timeout=60,
        )
        if r.status_code >= 400:
            raise AssertionError(f"Redmine {method} {path}: HTTP {r.status_code} {r.text[:500]}")
        return r.json() if r.content.strip() else None

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> None:
        self.request("PUT", path, body)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _rails_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUNDLE_", "RUBY", "GEM_"))}
    env.update(RAILS_ENV="production", DATABASE_URL=f"sqlite3:{db}", REDMINE_LANG="en")
    return env


def _prepare_db(work: Path) -> Path:
    db = work / "redmine.sqlite3"
    if _usable_template(TEMPLATE_DB):
        shutil.copyfile(TEMPLATE_DB, db)
        return db
    # No migrated template: build one (minutes, not seconds; CI installs the package,
    # whose postinst creates the template, so this is the laptop path).
    for task in (["db:migrate"], ["redmine:load_default_data"]):
        subprocess.run(
            ["ruby", "bin/rake", *task],
            cwd=REDMINE_ROOT,
            env=_rails_env(db),
            check=True,
            capture_output=True,
            timeout=600,
        )
    return db


def _enable_api(db: Path, api_key: str) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(db) as conn:
        # the REST API, and relations between a project and its subproject's issues
        for name in ("rest_api_enabled", "cross_project_issue_relations"):
            conn.execute("DELETE FROM settings WHERE name = ?", (name,))
            conn.execute(
                "INSERT INTO settings (name, value, updated_on) VALUES (?, '1', ?)", (name, now)
            )
        # Custom fields (Redmine's REST API cannot create them): for the `fields` mapping.
        for pos, (name, fmt) in enumerate(CUSTOM_FIELDS.items(), start=1):
            if conn.execute("SELECT 1 FROM custom_fields WHERE name = ?", (name,)).fetchone():
                continue
            cid = conn.execute(
                "INSERT INTO custom_fields (type, name, field_format, is_required, is_for_all, "
                "is_filter, position, searchable, editable, visible, multiple) "
                "VALUES ('IssueCustomField', ?, ?, 0, 1, 1, ?, 0, 1, 1, 0)",
                (name, fmt, pos),
            ).lastrowid
            for (tracker,) in conn.execute("SELECT id FROM trackers").fetchall():
                conn.execute(
                    "INSERT INTO custom_fields_trackers (custom_field_id, tracker_id) VALUES (?, ?)",
                    (cid, tracker),
                )
        admin = conn.execute("SELECT id FROM users WHERE login = 'admin'").fetchone()[0]
        conn.execute("UPDATE users SET must_change_passwd = 0 WHERE id = ?", (admin,))
        conn.execute("DELETE FROM tokens WHERE user_id = ? AND action = 'api'", (admin,))
        conn.execute(
            "INSERT INTO tokens (user_id, action, value, created_on, updated_on) "
            "VALUES (?, 'api', ?, ?, ?)",
            (admin, api_key, now, now),
        )


def load_fixtures(db: Path, fixtures: Path) -> None:
    """Redmine's own test fixtures (``test/fixtures/*.yml``) into ``db``, through Rails'
    ``db:fixtures:load`` (it empties each fixture's table first). Rails joins
    ``FIXTURES_PATH`` to its root, so the path is given relative to it."""
    rel = os.path.relpath(fixtures, REDMINE_ROOT)
    subprocess.run(
        ["ruby", "bin/rake", "db:fixtures:load"],
        cwd=REDMINE_ROOT,
        env={**_rails_env(db), "FIXTURES_PATH": rel},
        check=True,
        capture_output=True,
        timeout=600,
    )


def start_redmine(prepare: Callable[[Path], None] | None = None) -> RedmineServer:
    """A fresh server; ``prepare(db)`` runs on its database before the API is switched on
    and the server starts (fixtures, bulk rows)."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pmohub-redmine-"))
    server = RedmineServer(dir=work, port=_free_port(), api_key=secrets.token_hex(20))
    try:
        db = _prepare_db(work)
        if prepare is not None:
            prepare(db)
        _enable_api(db, server.api_key)
        log = server.log_path.open("wb")
        server.process = subprocess.Popen(
            [
                "ruby",
                "bin/rails",
                "server",
                "-u",
                "thin",
                "-b",
                "127.0.0.1",
                "-p",
                str(server.port),
                "-P",
                str(work / "server.pid"),
            ],
            cwd=REDMINE_ROOT,
            env=_rails_env(db),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"Redmine exited with {server.process.returncode}: "
                    + server.log_path.read_text(errors="replace")[-2000:]
                )
            try:
                r = requests.get(
                    f"{server.url}/issue_statuses.json",
                    headers={"X-Redmine-API-Key": server.api_key},
                    timeout=5,
                )
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redmine did not answer within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    server.started_in_s = time.monotonic() - started
    return server


def redmine_missing() -> str | None:
    if not (REDMINE_ROOT / "bin" / "rails").exists():
        return f"Redmine is not installed in {REDMINE_ROOT} (apt-get install redmine redmine-sqlite thin)"
    if shutil.which("ruby") is None:
        return "ruby is not installed"
    return None


def redmine_server() -> RedmineServer:
    """The session's Redmine, started on first use; skips (laptop) or fails (CI) when the
    packages are missing."""
    global _server, _failure
    missing = redmine_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}: CI must not skip the Redmine tests")
        pytest.skip(missing)
    if _failure is not None:
        pytest.fail(_failure)
    if _server is None:
        try:
            _server = start_redmine()
        except Exception as exc:
            _failure = f"could not start Redmine: {exc}"
            pytest.fail(_failure)
        atexit.register(_server.stop)
        print(f"\n[redmine] started in {_server.started_in_s:.1f} s at {_server.url}")
    return _server


# --- seeded data -----------------------------------------------------------------------

ROLE_MANAGER, ROLE_DEVELOPER = 3, 4
ACTIVITY_DEVELOPMENT = 9
STATUS = {"New": 1, "In Progress": 2, "Resolved": 3, "Feedback": 4, "Closed": 5, "Rejected": 6}
TRACKER = {"Bug": 1, "Feature": 2, "Support": 3}


@dataclass
class Seeded:
    """What ``seed_portfolio`` created (ids as Redmine assigned them)."""

    projects: dict[str, int]
    users: dict[str, int]
    versions: dict[str, int]
    issues: dict[str, int]
    relations: dict[str, int]
    time_entries: dict[str, int]
    spent: dict[str, float]  # issue name -> hours logged


def create_project(
    server: RedmineServer, identifier: str, name: str, parent: int | None = None
) -> int:
    body: dict[str, Any] = {
        "identifier": identifier,
        "name": name,
        "enabled_module_names": ["issue_tracking", "time_tracking"],
        "tracker_ids": list(TRACKER.values()),
        "is_public": True,
    }
    if parent is not None:
        body["parent_id"] = parent
    return int(server.post("/projects.json", {"project": body})["project"]["id"])


def create_user(server: RedmineServer, login: str, first: str, last: str, mail: str) -> int:
    body = {
        "login": login,
        "firstname": first,
        "lastname": last,
        "mail": mail,
        "password": secrets.token_urlsafe(12),
    }
    return int(server.post("/users.json", {"user": body})["user"]["id"])


def add_member(server: RedmineServer, project: int, user: int, role: int) -> None:
    server.post(
        f"/projects/{project}/memberships.json",
        {"membership": {"user_id": user, "role_ids": [role]}},
    )


def create_issue(server: RedmineServer, project: int, subject: str, **fields: Any) -> int:
    body = {"project_id": project, "subject": subject, **fields}
    return int(server.post("/issues.json", {"issue": body})["issue"]["id"])


def log_time(server: RedmineServer, issue: int, hours: float, spent_on: str, user: int) -> int:
    body = {
        "issue_id": issue,
        "hours": hours,
        "spent_on": spent_on,
        "activity_id": ACTIVITY_DEVELOPMENT,
        "user_id": user,
    }
    return int(server.post("/time_entries.json", {"time_entry": body})["time_entry"]["id"])


def relate(server: RedmineServer, a: int, b: int, kind: str) -> int:
    body = {"relation": {"issue_to_id": b, "relation_type": kind}}
    return int(server.post(f"/issues/{a}/relations.json", body)["relation"]["id"])


_seeded: dict[str, Seeded] = {}


def seed_portfolio(server: RedmineServer, prefix: str = "portal") -> Seeded:
    """A project with a subproject (plus one project outside the scope), two users with
    e-mail, versions, a parent issue with children moved through statuses, time entries by
    two people and relations of every stored kind. Created once per prefix per session."""
    if prefix in _seeded:
        return _seeded[prefix]
    p = create_project(server, prefix, "Customer portal")
    api = create_project(server, f"{prefix}-api", "Portal API", parent=p)
    other = create_project(server, f"{prefix}-other", "Unrelated project")
    suffix = secrets.token_hex(3)
    lina = create_user(server, f"lina{suffix}", "Lina", "Zhou", f"Lina.Zhou.{suffix}@Example.cn")
    wei = create_user(server, f"wei{suffix}", "Wei", "Zhang", f"wei.{suffix}@example.cn")
    for proj in (p, api, other):
        add_member(server, proj, lina, ROLE_MANAGER)
        add_member(server, proj, wei, ROLE_DEVELOPER)
    v1 = server.post(
        f"/projects/{p}/versions.json",
        {"version": {"name": "1.0", "due_date": "2026-03-31", "status": "open"}},
    )["version"]["id"]
    v2 = server.post(
        f"/projects/{p}/versions.json",
        {"version": {"name": "2.0", "due_date": "2026-09-30"}},
    )["version"]["id"]
    epic = create_issue(
        server, p, "Portal relaunch", tracker_id=TRACKER["Feature"], assigned_to_id=lina
    )
    cf = {f["name"]: f["id"] for f in server.get("/custom_fields.json")["custom_fields"]}
    login = create_issue(
        server,
        p,
        "Login page",
        custom_fields=[{"id": cf["Story points"], "value": "5"}],
        tracker_id=TRACKER["Feature"],
        parent_issue_id=epic,
        assigned_to_id=wei,
        estimated_hours=16,
        start_date="2026-02-01",
        due_date="2026-02-20",
        fixed_version_id=v1,
    )
    search = create_issue(
        server,
        p,
        "Search",
        tracker_id=TRACKER["Feature"],
        parent_issue_id=epic,
        assigned_to_id=lina,
        estimated_hours=24,
        fixed_version_id=v2,
    )
    crash = create_issue(server, api, "API crashes on empty body", tracker_id=TRACKER["Bug"])
    dup = create_issue(server, api, "Crash on empty POST", tracker_id=TRACKER["Bug"])
    outside = create_issue(server, other, "Not in scope", tracker_id=TRACKER["Support"])
    # Edits land a second after creation: a full run skips the journals of an issue whose
    # updated_on equals created_on (Redmine timestamps are whole seconds), so edits made in
    # the second of creation would be invisible on a fast machine.
    time.sleep(1.1)
    # History: login New -> In Progress (with a new due date and estimate) -> Closed.
    server.put(
        f"/issues/{login}.json",
        {"issue": {"status_id": STATUS["In Progress"], "due_date": "2026-02-27", "notes": "go"}},
    )
    server.put(
        f"/issues/{login}.json",
        {
            "issue": {
                "estimated_hours": 20,
                "done_ratio": 50,
                "custom_fields": [
                    {"id": cf["Story points"], "value": "8"},
                    {"id": cf["Risk probability"], "value": "high"},
                ],
            }
        },
    )
    server.put(f"/issues/{login}.json", {"issue": {"status_id": STATUS["Closed"]}})
    server.put(f"/issues/{search}.json", {"issue": {"status_id": STATUS["In Progress"]}})
    server.put(f"/issues/{dup}.json", {"issue": {"status_id": STATUS["Rejected"]}})
    entries = {
        "login-wei": log_time(server, login, 6.5, "2026-02-03", wei),
        "login-lina": log_time(server, login, 1.25, "2026-02-04", lina),
        "search-lina": log_time(server, search, 3, "2026-02-05", lina),
    }
    relations = {
        "login blocks search": relate(server, login, search, "blocks"),
        "dup duplicates crash": relate(server, dup, crash, "duplicates"),
        "search precedes crash": relate(server, search, crash, "precedes"),
        "crash relates login": relate(server, crash, login, "relates"),
    }
    # A later second for two issues, so `since` has items on both sides (Redmine
    # timestamps are whole seconds).
    time.sleep(1.1)
    server.put(f"/issues/{search}.json", {"issue": {"notes": "rescheduled"}})
    server.put(f"/issues/{crash}.json", {"issue": {"priority_id": 3}})
    seeded = Seeded(
        projects={prefix: p, f"{prefix}-api": api, f"{prefix}-other": other},
        users={"lina": lina, "wei": wei},
        versions={"1.0": int(v1), "2.0": int(v2)},
        issues={
            "epic": epic,
            "login": login,
            "search": search,
            "crash": crash,
            "dup": dup,
            "outside": outside,
        },
        relations=relations,
        time_entries=entries,
        spent={"login": 7.75, "search": 3.0},
    )
    _seeded[prefix] = seeded
    return seeded


# --- Redmine's own fixtures (real-payloads) ----------------------------------------------

FIXTURES = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "real-payloads"
    / "redmine"
    / "test-fixtures-5.0.4"
)


def allow_group_assignment(db: Path) -> None:
    """Setting ``issue_group_assignment``: issues may be assigned to groups."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM settings WHERE name = 'issue_group_assignment'")
        conn.execute(
            "INSERT INTO settings (name, value, updated_on) VALUES "
            "('issue_group_assignment', '1', ?)",
            (now,),
        )


def start_fixture_redmine(
    extra: Callable[[Path], None] | None = None, fixtures: Path = FIXTURES
) -> RedmineServer:
    """A server of its own holding Redmine's test fixtures (6 projects, 14 issues, groups,
    a locked user, project-level time), plus whatever ``extra(db)`` adds."""

    def prepare(db: Path) -> None:
        load_fixtures(db, fixtures)
        allow_group_assignment(db)
        if extra is not None:
            extra(db)

    return start_redmine(prepare)
