"""AzureBoardsEmulator: the Azure DevOps Services endpoints pmohub reads (dev.azure.com,
api-version 7.1), shaped per Microsoft's REST specs (learn.microsoft.com/rest/api/azure/devops, 7.1).

Deliberate behaviour (Azure's, which the connector must cope with):
- Lists come wrapped as ``{"count": n, "value": [...]}`` (the Swagger files describe the bare
  arrays).
- ``api-version`` is required (400 without it).
- Auth: Basic with an empty user and the PAT as password. A bad PAT answers 401; no
  credentials at all answers **203** with an HTML sign-in page (what Azure DevOps does for
  anonymous API calls), not 401.
- WIQL: ``SELECT ... FROM WorkItems WHERE <clauses joined by AND> [ORDER BY ...]``; clauses on
  System.TeamProject (= @project or a name), System.Id, System.ChangedDate, System.CreatedDate,
  System.WorkItemType, System.State, System.AreaPath (= or UNDER). Dates are day precision
  unless ``timePrecision=true``: then a literal with a time is compared exactly (a literal
  without a zone is read in the user's time zone); without it a literal with a time is a 400.
  More than ``wiql_limit`` (20,000) results without ``$top`` is a 400, as on Azure.
- ``workitemsbatch``: at most 200 ids; ``$expand`` together with ``fields`` is a 400; missing
  ids are left out with ``errorPolicy=omit`` (else 404).
- Updates: ``revisedDate`` is when the revision was superseded (9999-01-01 for the latest);
  the change time is ``System.ChangedDate``'s ``newValue``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from pmohub.emulators.azure.site import STATE_CATEGORY, STATES, AzureSite
from pmohub.emulators.base import Emulator, HttpError, Reply, Request, iso, route

DEFAULT_PAT = "azdo-emulator-pat-0123456789"
TOKEN_ENV = "AZURE_DEVOPS_EMULATOR_PAT"
ORG = r"/(?P<org>[^/_][^/]*)"
PROJ = ORG + r"/(?P<project>[^/_][^/]*)"
END_OF_TIME = "9999-01-01T00:00:00Z"
_CLAUSE = re.compile(
    r"\[(?P<field>[\w.]+)\]\s*(?P<op>>=|<=|<>|=|>|<|UNDER)\s*(?P<value>@\w+|'(?:[^']|'')*'|-?\d+)",
    re.IGNORECASE,
)
_ORDER = re.compile(r"\[(?P<field>[\w.]+)\]\s*(?P<dir>ASC|DESC)?", re.IGNORECASE)
_SIGN_IN = b"<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body></body></html>"


class AzureBoardsEmulator(Emulator):
    server_name = "Microsoft-IIS/10.0"

    def __init__(
        self,
        site: AzureSite,
        *,
        port: int = 0,
        pat: str = DEFAULT_PAT,
        user_time_zone: str = "Asia/Shanghai",
        wiql_limit: int = 20_000,
        iteration_paths: bool = True,
    ) -> None:
        super().__init__(port)
        # False: team iterations come without ``path``, as in Microsoft's published
        # example and on older servers (a real quirk the connector must survive).
        self.iteration_paths = iteration_paths
        self.site = site
        self.pat = pat
        self.tz = ZoneInfo(user_time_zone)
        self.wiql_limit = wiql_limit
        self._anonymous = False

    # -- vendor behaviour ----------------------------------------------------------------
    def authorised(self, req: Request) -> bool:
        header = req.headers.get("Authorization", "")
        self._anonymous = not header
        if not header.startswith("Basic "):
            return False
        try:
            _user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secret == self.pat

    def unauthorised(self, req: Request) -> Reply:
        if self._anonymous:
            return Reply(_SIGN_IN, 203)
        return Reply(
            b"Access Denied: The Personal Access Token used has expired or is invalid.",
            401,
            {"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'},
        )

    def error_body(self, status: int, message: str) -> Any:
        return {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.WorkItemTrackingException",
            "typeKey": "WorkItemTrackingException",
            "errorCode": 0,
            "eventId": 3200,
        }

    def rate_limited(self, retry_after: str | None) -> Reply:
        headers = {
            "X-RateLimit-Resource": "ATCPU",
            "X-RateLimit-Delay": "1.5",
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "1",
        }
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return Reply(
            self.error_body(429, "TF400733: The request has been throttled."), 429, headers
        )

    def dispatch(self, req: Request) -> Reply:
        if "/_apis/" in req.path and not (req.arg("api-version") or "").startswith("7."):
            return Reply(self.error_body(400, "No api-version was supplied for the request."), 400)
        return super().dispatch(req)

    # -- payloads ----------------------------------------------------------------------
    def _base(self) -> str:
        return f"{self.url}/{self.site.organization}"

    def identity(self, pid: str | None) -> dict[str, Any] | None:
        if pid is None:
            return None
        p = next((x for x in self.site.people if x["id"] == pid), None)
        if p is None:
            return None
        return {
            "displayName": p["displayName"],
            "url": f"https://spsprodweu5.vssps.visualstudio.com/_apis/Identities/{p['id']}",
            "_links": {
                "avatar": {"href": f"{self._base()}/_apis/GraphProfile/MemberAvatars/aad.{p['id']}"}
            },
            "id": p["id"],
            "uniqueName": p["uniqueName"],
            "imageUrl": f"{self._base()}/_apis/GraphProfile/MemberAvatars/aad.{p['id']}",
            "descriptor": f"aad.{base64.b64encode(p['id'].encode()).decode().rstrip('=')}",
        }

    def _wi_url(self, wid: int) -> str:
        return f"{self._base()}/_apis/wit/workItems/{wid}"

    def relations(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        rels = []
        if item["parent"]:
            rels.append(
                {
                    "rel": "System.LinkTypes.Hierarchy-Reverse",
                    "url": self._wi_url(item["parent"]),
                    "attributes": {"isLocked": False, "name": "Parent"},
                }
            )
        for child in self.site.items:
            if child["parent"] == item["id"]:
                rels.append(
                    {
                        "rel": "System.LinkTypes.Hierarchy-Forward",
                        "url": self._wi_url(child["id"]),
                        "attributes": {"isLocked": False, "name": "Child"},
                    }
                )
        reverse = {
            "System.LinkTypes.Related": "System.LinkTypes.Related",
            "System.LinkTypes.Dependency-Forward": "System.LinkTypes.Dependency-Reverse",
        }
        for other in self.site.items:  # a link shows on both ends, reversed on the far one
            for rel, target in other["related"]:
                if target == item["id"]:
                    name = "Related" if rel.endswith("Related") else "Predecessor"
                    rels.append(
                        {
                            "rel": reverse[rel],
                            "url": self._wi_url(other["id"]),
                            "attributes": {"isLocked": False, "name": name},
                        }
                    )
        for rel, target in item["related"]:
            name = "Related" if rel.endswith("Related") else "Successor"
            rels.append(
                {
                    "rel": rel,
                    "url": self._wi_url(target),
                    "attributes": {"isLocked": False, "name": name},
                }
            )
        return rels

    def work_item(
        self, item: dict[str, Any], *, expand: str | None, fields: list[str] | None
    ) -> dict[str, Any]:
        f: dict[str, Any] = {
            "System.Id": item["id"],
            "System.AreaPath": item["area"],
            "System.TeamProject": item["project"],
            "System.IterationPath": item["iteration"],
            "System.WorkItemType": item["type"],
            "System.State": item["state"],
            "System.Reason": {
                "New": "New",
                "Active": "Implementation started",
                "Resolved": "Code complete",
                "Closed": "Acceptance tests pass",
                "Removed": "Removed from the backlog",
            }[item["state"]],
            "System.CreatedDate": iso(item["created"], millis=True),
            "System.CreatedBy": self.identity(item["created_by"]),
            "System.ChangedDate": iso(item["changed"], millis=True),
            "System.ChangedBy": self.identity(item["changed_by"]),
            "System.CommentCount": 0,
            "System.Title": item["title"],
            "Microsoft.VSTS.Common.StateChangeDate": iso(item["changed"], millis=True),
            "Microsoft.VSTS.Common.Priority": item["priority"],
        }
        if item["assigned"]:
            f["System.AssignedTo"] = self.identity(item["assigned"])
        if item["parent"]:
            f["System.Parent"] = item["parent"]
        if item["tags"]:
            f["System.Tags"] = "; ".join(item["tags"])
        if item["story_points"] is not None:
            f["Microsoft.VSTS.Scheduling.StoryPoints"] = item["story_points"]
        if item["original"] is not None:
            f["Microsoft.VSTS.Scheduling.OriginalEstimate"] = item["original"]
            f["Microsoft.VSTS.Scheduling.RemainingWork"] = item["remaining"]
            f["Microsoft.VSTS.Scheduling.CompletedWork"] = item["completed"]
        if item.get("target"):
            f["Microsoft.VSTS.Scheduling.TargetDate"] = iso(item["target"])
        if item["state"] in ("Closed", "Removed"):
            f["Microsoft.VSTS.Common.ClosedDate"] = iso(item["changed"], millis=True)
        if fields:
            f = {k: v for k, v in f.items() if k in fields}
        out: dict[str, Any] = {"id": item["id"], "rev": len(item["updates"]), "fields": f}
        if expand in ("relations", "all"):
            out["relations"] = self.relations(item)
        out["url"] = self._wi_url(item["id"])
        return out

    def updates(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        ups = item["updates"]
        for n, u in enumerate(ups):
            prev_at = ups[n - 1]["at"] if n else None
            fields: dict[str, Any] = {}
            for name, (old, new) in u["fields"].items():
                if name == "System.AssignedTo":
                    old, new = self.identity(old), self.identity(new)
                elif isinstance(new, dt.datetime):
                    old, new = (iso(old, millis=True) if old else None), iso(new, millis=True)
                fields[name] = (
                    {"newValue": new} if old is None else {"oldValue": old, "newValue": new}
                )
            fields["System.Rev"] = (
                {"newValue": n + 1} if not n else {"oldValue": n, "newValue": n + 1}
            )
            changed = {"newValue": iso(u["at"], millis=True)}
            if prev_at:
                changed["oldValue"] = iso(prev_at, millis=True)
            fields["System.ChangedDate"] = changed
            fields["System.ChangedBy"] = {"newValue": self.identity(u["by"])}
            row: dict[str, Any] = {
                "id": n + 1,
                "workItemId": item["id"],
                "rev": n + 1,
                "revisedBy": self.identity(u["by"]),
                "revisedDate": iso(ups[n + 1]["at"], millis=True)
                if n + 1 < len(ups)
                else END_OF_TIME,
                "fields": fields,
                "url": f"{self._wi_url(item['id'])}/updates/{n + 1}",
            }
            if not n and item["parent"]:
                row["relations"] = {
                    "added": [
                        {
                            "rel": "System.LinkTypes.Hierarchy-Reverse",
                            "url": self._wi_url(item["parent"]),
                            "attributes": {"isLocked": False, "name": "Parent"},
                        }
                    ]
                }
            out.append(row)
        return out

    # -- helpers -----------------------------------------------------------------------
    def _org(self, org: str) -> None:
        if unquote(org) != self.site.organization:
            raise HttpError(
                404,
                f"VS800075: The project with id 'vstfs:///Classification/TeamProject/{org}' does not exist, or you do not have permission to access it.",
            )

    def _project(self, org: str, project: str) -> dict[str, Any]:
        self._org(org)
        p = self.site.project(unquote(project))
        if p is None:
            raise HttpError(
                404,
                f"TF200016: The following project does not exist: {unquote(project)}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.",
            )
        return p

    @staticmethod
    def _wrap(rows: list[Any]) -> dict[str, Any]:
        return {"count": len(rows), "value": rows}

    # -- routes ------------------------------------------------------------------------
    @route("GET", ORG + r"/_apis/projects")
    def list_projects(self, req: Request, org: str) -> Any:
        self._org(org)
        return self._wrap([self._project_json(p) for p in self.site.projects])

    def _project_json(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": p["id"],
            "name": p["name"],
            "description": p["description"],
            "url": f"{self._base()}/_apis/projects/{p['id']}",
            "state": "wellFormed",
            "revision": 42,
            "visibility": "private",
            "lastUpdateTime": "2025-12-01T08:00:00.000Z",
            "defaultTeam": {
                "id": p["team"]["id"],
                "name": p["team"]["name"],
                "url": f"{self._base()}/_apis/projects/{p['id']}/teams/{p['team']['id']}",
            },
        }

    @route("GET", ORG + r"/_apis/projects/(?P<project>[^/]+)")
    def get_project(self, req: Request, org: str, project: str) -> Any:
        return self._project_json(self._project(org, project))

    @route("GET", ORG + r"/_apis/projects/(?P<project>[^/]+)/teams/(?P<team>[^/]+)/members")
    def team_members(self, req: Request, org: str, project: str, team: str) -> Any:
        p = self._project(org, project)
        if unquote(team) not in (p["team"]["name"], p["team"]["id"]):
            raise HttpError(404, f"The team with id '{unquote(team)}' does not exist.")
        return self._wrap(
            [
                {"isTeamAdmin": n == 0, "identity": self.identity(m)}
                for n, m in enumerate(p["members"])
            ]
        )

    @route("GET", PROJ + r"/(?P<team>[^/_][^/]*)/_apis/work/teamsettings/iterations")
    def iterations(self, req: Request, org: str, project: str, team: str) -> Any:
        p = self._project(org, project)
        if unquote(team) not in (p["team"]["name"], p["team"]["id"]):
            raise HttpError(404, f"The team with id '{unquote(team)}' does not exist.")
        frame = req.arg("$timeframe")
        rows = []
        for it in p["iterations"]:
            if frame and it["timeFrame"] != frame:
                continue
            row = {
                "id": it["id"],
                "name": it["name"],
                "path": it["path"],
                "attributes": {
                    "startDate": iso(dt.datetime.combine(it["start"], dt.time(), tzinfo=dt.UTC)),
                    "finishDate": iso(dt.datetime.combine(it["finish"], dt.time(), tzinfo=dt.UTC)),
                    "timeFrame": it["timeFrame"],
                },
                "url": f"{self._base()}/{p['id']}/{p['team']['id']}/_apis/work/teamsettings/iterations/{it['id']}",
            }
            if not self.iteration_paths:
                del row["path"]
            rows.append(row)
        return self._wrap(rows)

    @route("GET", PROJ + r"/_apis/wit/workitemtypes/(?P<kind>[^/]+)/states")
    def states(self, req: Request, org: str, project: str, kind: str) -> Any:
        self._project(org, project)
        kind = unquote(kind)
        if kind not in STATES:
            raise HttpError(404, f"TF201063: Work item type {kind} does not exist.")
        colors = {
            "Proposed": "b2b2b2",
            "InProgress": "007acc",
            "Resolved": "ff9d00",
            "Completed": "339933",
            "Removed": "ffffff",
        }
        return self._wrap(
            [
                {"name": s, "color": colors[STATE_CATEGORY[s]], "category": STATE_CATEGORY[s]}
                for s in STATES[kind]
            ]
        )

    @route("POST", PROJ + r"/_apis/wit/wiql")
    def wiql(self, req: Request, org: str, project: str) -> Any:
        return self._wiql(req, self._project(org, project))

    @route("POST", PROJ + r"/(?P<team>[^/_][^/]*)/_apis/wit/wiql")
    def wiql_team(self, req: Request, org: str, project: str, team: str) -> Any:
        return self._wiql(req, self._project(org, project))

    def _wiql(self, req: Request, p: dict[str, Any]) -> Any:
        text = str((req.body or {}).get("query") or "")
        m = re.match(
            r"\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+WorkItems\s*(?:WHERE\s+(?P<where>.+?))?\s*(?:ORDER\s+BY\s+(?P<order>.+))?\s*$",
            text,
            re.IGNORECASE | re.DOTALL,
        )
        if m is None:
            raise HttpError(400, "TF51006: The query statement is missing a FROM clause.")
        precise = (req.arg("timePrecision") or "").lower() == "true"
        preds = []
        where = m["where"] or ""
        parts = [w for w in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if w.strip()]
        for part in parts:
            c = _CLAUSE.fullmatch(part.strip().strip("()").strip())
            if c is None:
                raise HttpError(
                    400,
                    f"TF51005: The query references a field or operator this emulator does not support: {part.strip()}",
                )
            preds.append(self._predicate(c["field"], c["op"].upper(), c["value"], p, precise))
        with self.lock:
            rows = [i for i in self.site.items if all(pred(i) for pred in preds)]
            order = [
                (o["field"], (o["dir"] or "ASC").upper() == "DESC")
                for o in _ORDER.finditer(m["order"] or "")
            ] or [("System.Id", False)]
            for fname, desc in reversed(order):
                rows.sort(key=lambda i, f=fname: _value(i, f), reverse=desc)
            top = req.arg("$top")
            if top is None and len(rows) > self.wiql_limit:
                raise HttpError(
                    400,
                    f"VS402337: The number of work items returned exceeds the size limit of {self.wiql_limit}. Change the query to return fewer items.",
                )
            if top is not None:
                rows = rows[: min(int(top), self.wiql_limit)]
        return {
            "queryType": "flat",
            "queryResultType": "workItem",
            "asOf": iso(self.now(), millis=True),
            "columns": [
                {
                    "referenceName": "System.Id",
                    "name": "ID",
                    "url": f"{self._base()}/_apis/wit/fields/System.Id",
                }
            ],
            "sortColumns": [
                {
                    "field": {
                        "referenceName": f,
                        "name": f.split(".")[-1],
                        "url": f"{self._base()}/_apis/wit/fields/{f}",
                    },
                    "descending": d,
                }
                for f, d in order
            ],
            "workItems": [{"id": i["id"], "url": self._wi_url(i["id"])} for i in rows],
        }

    def _predicate(self, field: str, op: str, raw: str, p: dict[str, Any], precise: bool) -> Any:
        if raw.startswith("@"):
            if raw.lower() != "@project":
                raise HttpError(400, f"TF51005: macro {raw} is not supported here")
            value: Any = p["name"]
        elif raw.startswith("'"):
            value = raw[1:-1].replace("''", "'")
        else:
            value = int(raw)
        if field in ("System.ChangedDate", "System.CreatedDate"):
            return self._date_predicate(field, op, str(value), precise)
        if op == "UNDER":
            return lambda i: (
                _value(i, field) == value or str(_value(i, field)).startswith(f"{value}\\")
            )
        return _compare(field, op, value)

    def _date_predicate(self, field: str, op: str, literal: str, precise: bool) -> Any:
        has_time = "T" in literal or ":" in literal
        if has_time and not precise:
            raise HttpError(
                400,
                f"VS402336: You cannot supply a time with the date when running a query using date precision. The error is caused by «[{field}] {op} '{literal}'».",
            )
        if precise:
            at = dt.datetime.fromisoformat(literal.replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=self.tz)
            return _compare(field, op, at.astimezone(dt.UTC))
        day = dt.date.fromisoformat(literal[:10])
        # Day precision compares calendar days in the user's time zone.
        return lambda i: _ops(op)(_value(i, field).astimezone(self.tz).date(), day)

    @route("POST", PROJ + r"/_apis/wit/workitemsbatch")
    def batch(self, req: Request, org: str, project: str) -> Any:
        self._project(org, project)
        return self._batch(req)

    @route("POST", ORG + r"/_apis/wit/workitemsbatch")
    def batch_org(self, req: Request, org: str) -> Any:
        self._org(org)
        return self._batch(req)

    def _batch(self, req: Request) -> Any:
        body = req.body or {}
        ids = body.get("ids") or []
        if not ids or len(ids) > 200:
            raise HttpError(
                400,
                "VS403474: The maximum number of work items that can be requested in a batch is 200.",
            )
        expand = (body.get("$expand") or "none").lower()
        if body.get("fields") and expand not in ("none", ""):
            raise HttpError(
                400, "VS403437: The expand parameter can not be used with the fields parameter."
            )
        out = []
        with self.lock:
            for wid in ids:
                item = self.site.item(int(wid))
                if item is None:
                    if (body.get("errorPolicy") or "fail").lower() == "omit":
                        continue
                    raise HttpError(
                        404,
                        f"TF401232: Work item {wid} does not exist, or you do not have permissions to read it.",
                    )
                out.append(self.work_item(item, expand=expand, fields=body.get("fields")))
        return self._wrap(out)

    @route("GET", PROJ + r"/_apis/wit/workItems/(?P<wid>\d+)/updates")
    def get_updates(self, req: Request, org: str, project: str, wid: str) -> Any:
        self._project(org, project)
        item = self.site.item(int(wid))
        if item is None:
            raise HttpError(
                404,
                f"TF401232: Work item {wid} does not exist, or you do not have permissions to read it.",
            )
        rows = self.updates(item)
        skip = req.int_arg("$skip", 0)
        top = req.int_arg("$top", 200, maximum=200)
        return self._wrap(rows[skip : skip + top])

    # -- mutations ---------------------------------------------------------------------
    def latest(self) -> dt.datetime:
        return max(i["changed"] for i in self.site.items)

    def set_state(
        self, wid: int, state: str, by: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Change the state (and optionally RemainingWork/CompletedWork) as a user would."""
        with self.lock:
            item = self.site.item(wid)
            assert item is not None
            now = self.now(self.latest())
            by = by or item["created_by"]
            changes: dict[str, Any] = {"System.State": (item["state"], state)}
            for key, name in (
                ("remaining", "Microsoft.VSTS.Scheduling.RemainingWork"),
                ("completed", "Microsoft.VSTS.Scheduling.CompletedWork"),
            ):
                if key in extra:
                    changes[name] = (item[key], extra[key])
                    item[key] = extra[key]
            item["updates"].append({"at": now, "by": by, "fields": changes, "relations": None})
            item.update(state=state, changed=now, changed_by=by)
            return item

    def delete(self, wid: int) -> None:
        with self.lock:
            item = self.site.item(wid)
            assert item is not None
            self.site.items.remove(item)


def _value(item: dict[str, Any], field: str) -> Any:
    return {
        "System.Id": item["id"],
        "System.TeamProject": item["project"],
        "System.ChangedDate": item["changed"],
        "System.CreatedDate": item["created"],
        "System.WorkItemType": item["type"],
        "System.State": item["state"],
        "System.AreaPath": item["area"],
        "System.IterationPath": item["iteration"],
    }[field]


def _ops(op: str) -> Any:
    return {
        "=": lambda a, b: a == b,
        "<>": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }[op]


def _compare(field: str, op: str, value: Any) -> Any:
    fn = _ops(op)
    if isinstance(value, str):
        return lambda i: fn(str(_value(i, field)).lower(), value.lower())
    return lambda i: fn(_value(i, field), value)
