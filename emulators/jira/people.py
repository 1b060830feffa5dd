"""The people of every generated tracker site (Jira, GitLab, GitHub, Azure Boards, Trello,
PingCode draw from the same names) and the Jira users made of them.
"""

from __future__ import annotations

import random
from typing import Any

PEOPLE: list[tuple[str, str, str]] = [
    # (display name, login, time zone)
    ("张伟", "zhang.wei", "Asia/Shanghai"),
    ("李娜", "li.na", "Asia/Shanghai"),
    ("王芳", "wang.fang", "Asia/Shanghai"),
    ("刘洋", "liu.yang", "Asia/Shanghai"),
    ("陈静", "chen.jing", "Asia/Shanghai"),
    ("Alice Johnson", "alice.johnson", "America/Los_Angeles"),
    ("Bob Miller", "bob.miller", "America/Los_Angeles"),
    ("Carla Schmidt", "carla.schmidt", "Europe/Berlin"),
    ("Dieter Wagner", "dieter.wagner", "Europe/Berlin"),
    ("赵磊", "zhao.lei", "Asia/Shanghai"),
    ("Emma Brown", "emma.brown", "Europe/London"),
    ("孙丽", "sun.li", "Asia/Shanghai"),
    ("Frank O'Neil", "frank.oneil", "America/New_York"),
    ("周杰", "zhou.jie", "Asia/Shanghai"),
]


def site_users(rng: random.Random) -> list[dict[str, Any]]:
    """One user per name of PEOPLE (three with hidden e-mail, one inactive), then the PMO
    bot the connector logs in as (always last)."""
    users: list[dict[str, Any]] = []
    hidden = set(rng.sample(range(len(PEOPLE)), 3))
    inactive = rng.randrange(len(PEOPLE))
    for n, (display, login, tz) in enumerate(PEOPLE):
        users.append(
            {
                "account_id": f"5b10a2844c20165700ede{rng.getrandbits(40):010x}"[:24],
                "key": f"JIRAUSER{10100 + n}",
                "name": login,
                "display_name": display,
                "email": f"{login}@example.cn",
                "email_visible": n not in hidden,
                "time_zone": tz,
                "active": n != inactive,
            }
        )
    users.append(
        {
            "account_id": "712020:" + f"{rng.getrandbits(64):016x}-pmo-bot",
            "key": "JIRAUSER10000",
            "name": "pmo-bot",
            "display_name": "PMO Bot",
            "email": "pmo-bot@example.cn",
            "email_visible": True,
            "time_zone": "Asia/Shanghai",
            "active": True,
        }
    )
    return users
