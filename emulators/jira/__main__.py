"""Run an emulated Jira site by hand: python -m emulators.jira --deployment cloud --issues 400"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from pmohub.emulators.jira import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    EMAIL_ENV,
    TOKEN_ENV,
    JiraEmulator,
    generate_site,
    load_site,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.jira", description=__doc__)
    parser.add_argument("--deployment", choices=["cloud", "datacenter"], default="cloud")
    parser.add_argument("--issues", type=int, default=400)
    parser.add_argument("--projects", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 21))
    parser.add_argument("--site", help="load a site JSON written by JiraSite.dump instead")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--time-zone", default="Asia/Shanghai")
    args = parser.parse_args(argv)
    if args.site:
        site = load_site(args.site)
    else:
        site = generate_site(
            seed=args.seed, projects=args.projects, issues=args.issues, today=args.today
        )
    # The emulator's credentials are fixed test values (not secrets); a connector reads them
    # from the environment variables named here.
    with JiraEmulator(
        site, deployment=args.deployment, port=args.port, user_time_zone=args.time_zone
    ) as emu:
        print(f"Jira {args.deployment} emulator: {emu.url}  ({len(site.issues)} issues)")
        print(f"  export {EMAIL_ENV}={DEFAULT_EMAIL}   # Cloud basic-auth user")
        if args.deployment == "datacenter":
            print(f"  (Data Center also accepts user name {DEFAULT_USERNAME} or a Bearer token)")
        print(f"  export {TOKEN_ENV}={DEFAULT_TOKEN}")
        print("Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
