"""Azure Boards quirks met in real payloads (issue 12), played by the emulator."""

from __future__ import annotations

from typing import Any

from pmohub.connectors.azureboards import AzureBoardsConnector, mapping
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.records import Iteration, WorkItem
from pmohub.emulators.azure import DEFAULT_PAT, AzureBoardsEmulator, generate_site

ENV = {"AZDO_PAT": DEFAULT_PAT}
PROJECT = "Fabrikam Fiber"


def test_team_iterations_without_path_do_not_abort_the_source() -> None:
    site = generate_site(seed=9, stories=10)
    with AzureBoardsEmulator(site, iteration_paths=False) as emu:
        conf = SourceConfig(
            name="azb",
            type="azureboards",
            url=f"{emu.url}/contoso",
            token_env="AZDO_PAT",
            projects=(PROJECT,),
        )
        with AzureBoardsConnector(conf, env=ENV) as conn:
            iterations = [i for i in conn.fetch_iterations() if isinstance(i, Iteration)]
            items = [o for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)]
    assert iterations, "the team's iterations are still read"
    # the derived <project>\<name> path is the one work items use: iterations still link
    ids = {i.external_id for i in iterations}
    linked = [w for w in items if w.iteration_ids]
    assert linked and all(set(w.iteration_ids) <= ids for w in linked)


def test_iteration_path_fallback_is_project_backslash_name() -> None:
    it: dict[str, Any] = {"id": "a589", "name": "Sprint 2", "attributes": {}}
    assert mapping.iteration_path(it, "Fabrikam-Fiber") == "Fabrikam-Fiber\\Sprint 2"
    assert mapping.iteration_path({**it, "path": "F\\R1\\Sprint 2"}, "F") == "F\\R1\\Sprint 2"
