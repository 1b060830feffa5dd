"""Run a tracker emulator by hand (Jira has its own: python -m emulators.jira).

python -m emulators github --port 8081        # also: gitlab, trello, azure, pingcode

It prints the URL, the fixed test credentials (not secrets) and a sources: entry to paste
into pmohub.yaml.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any


def _start(kind: str, seed: int, size: int, today: dt.date, port: int) -> tuple[Any, str]:
    if kind == "github":
        from pmohub.emulators import github as g

        emu: Any = g.GitHubEmulator(
            g.generate_site(seed=seed, issues=size, today=today), port=port
        ).start()
        repos = ", ".join(f"{emu.site.owner}/{r['name']}" for r in emu.site.repos)
        return emu, (
            f"  export {g.TOKEN_ENV}={g.DEFAULT_TOKEN}\n"
            f"  gh_demo: {{type: github, url: {emu.url}, token_env: {g.TOKEN_ENV}, "
            f"projects: [{repos}]}}"
        )
    if kind == "gitlab":
        from pmohub.emulators import gitlab as g

        emu = g.GitLabEmulator(g.generate_site(seed=seed, issues=size, today=today), port=port)
        emu.start()
        return emu, (
            f"  export {g.TOKEN_ENV}={g.DEFAULT_TOKEN}\n"
            f"  gl_demo: {{type: gitlab, url: {emu.url}, token_env: {g.TOKEN_ENV}, "
            f"groups: [{emu.site.group['full_path']}]}}"
        )
    if kind == "trello":
        from pmohub.emulators import trello as g

        emu = g.TrelloEmulator(g.generate_site(seed=seed, cards=size, today=today), port=port)
        emu.start()
        boards = ", ".join(b["shortLink"] for b in emu.site.boards)
        return emu, (
            f"  export {g.TOKEN_ENV}={g.DEFAULT_TOKEN} TRELLO_API_KEY={g.DEFAULT_KEY}\n"
            f"  trello_demo: {{type: trello, url: {emu.url}/1, token_env: {g.TOKEN_ENV}, "
            f"projects: [{boards}]}}"
        )
    if kind == "pingcode":
        from pmohub.emulators import pingcode as p

        emu = p.PingCodeEmulator(p.generate_site(seed=seed, items=size, today=today), port=port)
        emu.start()
        keys = ", ".join(x["identifier"] for x in emu.site.projects)
        return emu, (
            f"  export {p.TOKEN_ENV}={p.DEFAULT_CLIENT_SECRET}\n"
            f"  pc_demo: {{type: pingcode, url: {emu.root}, client_id: {p.DEFAULT_CLIENT_ID}, "
            f"token_env: {p.TOKEN_ENV}, projects: [{keys}]}}"
        )
    from pmohub.emulators import azure as g

    emu = g.AzureBoardsEmulator(g.generate_site(seed=seed, stories=size, today=today), port=port)
    emu.start()
    names = ", ".join(f'"{p["name"]}"' for p in emu.site.projects)
    return emu, (
        f"  export {g.TOKEN_ENV}={g.DEFAULT_PAT}\n"
        f"  azb_demo: {{type: azureboards, url: {emu.url}/{emu.site.organization}, "
        f"token_env: {g.TOKEN_ENV}, projects: [{names}]}}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__)
    parser.add_argument("tracker", choices=["github", "gitlab", "trello", "azure", "pingcode"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=40, help="issues/cards/stories per project")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 21))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    emu, hint = _start(args.tracker, args.seed, args.size, args.today, args.port)
    print(f"{args.tracker} emulator: {emu.url}\n{hint}\nCtrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
