"""Jira Software (agile 1.0) endpoints of the Jira emulator: boards, a board's sprints
and versions, one sprint. Boards of hidden projects are invisible (404), like a board whose
filter the user cannot see.
"""

from __future__ import annotations

from typing import Any

from pmohub.emulators.jira.paging import HttpError
from pmohub.emulators.jira.payloads import Ctx, utc_time
from pmohub.emulators.jira.routing import AGILE, RouteTable, int_param

ROUTES = RouteTable()


def agile_ctx(emu: Any) -> Ctx:
    return emu.ctx("3" if emu.cloud else "2")


def visible_boards(emu: Any) -> list[dict[str, Any]]:
    return [b for b in emu.site.boards if b["project_key"] not in emu.hidden_projects]


def find_board(emu: Any, board_id: str) -> dict[str, Any]:
    for b in visible_boards(emu):
        if str(b["id"]) == board_id:
            return b
    raise HttpError(404, "Board does not exist or you do not have permission to see it.")


def paged(rows: list[Any], q: dict[str, str], cap: int = 50) -> dict[str, Any]:
    start, size = int_param(q, "startAt", 0), max(1, min(int_param(q, "maxResults", 50), cap))
    page = rows[start : start + size]
    return {
        "maxResults": size,
        "startAt": start,
        "total": len(rows),
        "isLast": start + size >= len(rows),
        "values": page,
    }


@ROUTES.route("GET", AGILE + r"/board")
def boards(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = agile_ctx(emu)
    rows = visible_boards(emu)
    if q.get("type"):
        rows = [b for b in rows if b["type"] in q["type"].split(",")]
    if q.get("projectKeyOrId"):
        rows = [b for b in rows if b["project_key"] == q["projectKeyOrId"].upper()]
    projects_by_key = {p["key"]: p for p in emu.site.projects}
    values = []
    for b in rows:
        p = projects_by_key[b["project_key"]]
        values.append(
            {
                "id": b["id"],
                "self": f"{ctx.base_url}/rest/agile/1.0/board/{b['id']}",
                "name": b["name"],
                "type": b["type"],
                "location": {
                    "projectId": p["id"],
                    "displayName": f"{p['name']} ({p['key']})",
                    "projectName": p["name"],
                    "projectKey": p["key"],
                    "projectTypeKey": "software",
                    "avatarURI": f"/secure/projectavatar?size=small&pid={p['id']}",
                    "name": f"{p['name']} ({p['key']})",
                },
            }
        )
    return paged(values, q)


def sprint_json(ctx: Ctx, s: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s["id"],
        "self": f"{ctx.base_url}/rest/agile/1.0/sprint/{s['id']}",
        "state": s["state"],
        "name": s["name"],
    }
    if s["start_at"] is not None:
        out["startDate"] = utc_time(s["start_at"])
        out["endDate"] = utc_time(s["end_at"])
    if s["complete_at"] is not None:
        out["completeDate"] = utc_time(s["complete_at"])
    out["originBoardId"] = s["board_id"]
    out["goal"] = s["goal"]
    return out


@ROUTES.route("GET", AGILE + r"/board/(?P<board>\d+)/sprint")
def board_sprints(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = agile_ctx(emu)
    board = find_board(emu, g["board"])
    if board["type"] != "scrum":
        raise HttpError(400, "The board does not support sprints")
    states = {s for s in q.get("state", "").split(",") if s}
    order = {"closed": 0, "active": 1, "future": 2}
    rows = sorted(
        (
            s
            for s in emu.site.sprints
            if s["board_id"] == board["id"] and (not states or s["state"] in states)
        ),
        key=lambda s: (order[s["state"]], s["id"]),
    )
    if emu.faults.board_sprints_hidden:
        rows = []
    return paged([sprint_json(ctx, s) for s in rows], q)


@ROUTES.route("GET", AGILE + r"/sprint/(?P<sprint>\d+)")
def sprint_one(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = agile_ctx(emu)
    for s in emu.site.sprints:
        if str(s["id"]) == g["sprint"]:
            find_board(emu, str(s["board_id"]))
            return sprint_json(ctx, s)
    raise HttpError(404, "Sprint does not exist or you do not have permission to see it.")


@ROUTES.route("GET", AGILE + r"/board/(?P<board>\d+)/version")
def board_versions(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = agile_ctx(emu)
    board = find_board(emu, g["board"])
    proj = next(p for p in emu.site.projects if p["key"] == board["project_key"])
    rows = []
    for v in emu.site.versions:
        if v["project_key"] != proj["key"]:
            continue
        row: dict[str, Any] = {
            "self": f"{ctx.rest}/version/{v['id']}",
            "id": v["id"],
            "projectId": proj["id"],
            "name": v["name"],
            "description": v["description"],
            "archived": v["archived"],
            "released": v["released"],
        }
        if v.get("release_on"):
            row["releaseDate"] = v["release_on"] + "T00:00:00.000Z"
        rows.append(row)
    return paged(rows, q)
