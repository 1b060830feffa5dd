"""What users do to an emulated Jira site between two syncs: edit fields, log work,
delete and move issues (a mixin of :class:`~pmohub.emulators.jira.server.JiraEmulator`).

Every mutation bumps ``updated``, records a changelog entry the way Jira does (field names,
``from``/``to`` ids and ``fromString``/``toString``) and calls the host's ``_touched`` so
cached query results are dropped. The host provides ``site``, ``lock``, ``now_ms`` and
``_touched``.
"""

from __future__ import annotations

from typing import Any

from pmohub.emulators.jira.payloads import STATUS_BY_NAME


def _s(value: Any) -> str | None:
    if value is None:
        return None
    return ",".join(value) if isinstance(value, list) else str(value)


class IssueMutations:
    """Test and demo hooks that change the site like a user in the browser would."""

    def _get(self, key: str) -> dict[str, Any]:
        issue = self.site.issue(key)
        if issue is None:
            raise KeyError(f"no issue {key}")
        return issue

    def edit_issue(self, key: str, author: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields like a user would: bumps `updated`, appends a changelog entry.
        Keys: summary, description, status, assignee (accountId or None), priority, due_on,
        story_points, labels, or any logical custom field name of `site.field_ids`."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            items: list[dict[str, Any]] = []
            for name, value in changes.items():
                name = {"duedate": "due_on"}.get(name, name)
                if name == "status":
                    items += self._status_change(issue, value, now)
                else:
                    items.append(self._field_change(issue, name, value))
            issue["histories"].append(
                {
                    "id": self.site.next_id("history"),
                    "author": author or self.site.bot_account_id,
                    "created": now,
                    "items": items,
                }
            )
            issue["updated"] = now
            self._touched()
            return issue

    def add_worklog(self, key: str, seconds: int, author: str | None = None) -> dict[str, Any]:
        """Log work on an issue (shows up in /worklog/updated after the quiet period)."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            worklog = {
                "id": 10_000 + self.site.next_id("worklog"),
                "author": author or self.site.bot_account_id,
                "started": now - seconds * 1000,
                "seconds": seconds,
                "created": now,
                "updated": now,
                "comment": "",
            }
            issue["worklogs"].append(worklog)
            issue["spent_s"] = (issue["spent_s"] or 0) + seconds
            issue["updated"] = now
            self.site.worklogs_by_id[worklog["id"]] = (worklog, issue)
            self._touched()
            return worklog

    def delete_issue(self, key: str) -> None:
        """Delete an issue: it vanishes from search; its worklogs appear in /worklog/deleted."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            self.site.issues.remove(issue)
            del self.site.by_id[issue["id"]]
            self.site.by_key.pop(issue["key"], None)
            for w in issue["worklogs"]:
                self.site.worklogs_by_id.pop(w["id"], None)
                self.site.deleted_worklogs.append({"worklogId": w["id"], "updatedTime": now})
            for link in issue["links"]:
                other = self.site.by_id.get(link["other"])
                if other is not None:
                    other["links"] = [lk for lk in other["links"] if lk["id"] != link["id"]]
            self.site.key_aliases = {
                k: v for k, v in self.site.key_aliases.items() if v != issue["id"]
            }
            self._touched()

    def move_issue(self, key: str, project_key: str) -> dict[str, Any]:
        """Move to another project: same numeric id, new key; the old key still resolves."""
        with self.lock:
            issue = self._get(key)
            target = next((p for p in self.site.projects if p["key"] == project_key), None)
            if target is None:
                raise KeyError(f"no project {project_key}")
            source = next(p for p in self.site.projects if p["key"] == issue["project"])
            numbers = [
                int(i["key"].rsplit("-", 1)[1])
                for i in self.site.issues
                if i["project"] == project_key
            ]
            numbers += [
                int(k.rsplit("-", 1)[1])
                for k in self.site.key_aliases
                if k.rsplit("-", 1)[0] == project_key
            ]
            new_key = f"{project_key}-{max(numbers, default=0) + 1}"
            old_key = issue["key"]
            now = self.now_ms()
            issue["histories"].append(
                {
                    "id": self.site.next_id("history"),
                    "author": self.site.bot_account_id,
                    "created": now,
                    "items": [
                        {
                            "field": "project",
                            "fieldtype": "jira",
                            "fieldId": "project",
                            "from": None,
                            "to": None,
                            "fromString": source["name"],
                            "toString": target["name"],
                        },
                        {
                            "field": "Key",
                            "fieldtype": "jira",
                            "fieldId": "issuekey",
                            "from": None,
                            "to": None,
                            "fromString": old_key,
                            "toString": new_key,
                        },
                    ],
                }
            )
            # Versions belong to a project; Jira drops them on a move.
            issue["fix_versions"] = []
            issue["project"] = project_key
            issue["key"] = new_key
            issue["updated"] = now
            self.site.by_key.pop(old_key, None)
            self.site.by_key[new_key] = issue
            self.site.key_aliases[old_key] = issue["id"]
            self._touched()
            return issue

    def _status_change(self, issue: dict[str, Any], value: str, now: int) -> list[dict[str, Any]]:
        """The status item, and a resolution item when the move enters or leaves Done
        (Jira sets and clears the resolution with the status category)."""
        items: list[dict[str, Any]] = []
        if value not in STATUS_BY_NAME:
            raise ValueError(f"unknown status {value!r}")
        old = issue["status"]
        items.append(
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": old,
                "to": value,
            }
        )
        issue["status"] = value
        done = STATUS_BY_NAME[value][1] == "done"
        if done and not issue["resolution"]:
            items.append(
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "fieldId": "resolution",
                    "from": None,
                    "to": "Done",
                }
            )
            issue["resolution"], issue["resolved"] = "Done", now
        elif not done and issue["resolution"]:
            items.append(
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "fieldId": "resolution",
                    "from": issue["resolution"],
                    "to": None,
                }
            )
            issue["resolution"], issue["resolved"] = None, None
        return items

    def _field_change(self, issue: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
        """Apply one non-status change to ``issue`` and return its changelog item. Custom
        and list fields carry their values as strings (fromString/toString), like Jira."""
        if name in ("summary", "description"):
            item = {
                "field": name,
                "fieldtype": "jira",
                "fieldId": name,
                "from": issue[name],
                "to": value,
            }
            issue[name] = value
        elif name in ("assignee", "priority", "due_on"):
            field = {"due_on": "duedate"}.get(name, name)
            item = {
                "field": field,
                "fieldtype": "jira",
                "fieldId": field,
                "from": issue[name],
                "to": value,
            }
            issue[name] = value
        elif name == "story_points":
            item = {
                "field": "Story Points",
                "fieldtype": "custom",
                "fieldId": self.site.field_ids["story_points"],
                "from": None,
                "to": None,
                "fromString": None if issue[name] is None else str(issue[name]),
                "toString": None if value is None else str(value),
            }
            issue[name] = value
        elif name == "labels":
            item = {
                "field": "labels",
                "fieldtype": "jira",
                "fieldId": "labels",
                "from": None,
                "to": None,
                "fromString": " ".join(issue["labels"]),
                "toString": " ".join(value),
            }
            issue["labels"] = list(value)
        elif name in self.site.field_ids:
            item = {
                "field": name,
                "fieldtype": "custom",
                "fieldId": self.site.field_ids[name],
                "from": None,
                "to": None,
                "fromString": _s(issue["custom"].get(name)),
                "toString": _s(value),
            }
            issue["custom"][name] = value
        else:
            raise ValueError(f"edit_issue cannot change {name!r}")
        return item
