"""Reading MS Project plans: MSPDI XML with the standard library, ``.mpp`` through MPXJ.

MSPDI (``File > Save As > XML``) is the ``http://schemas.microsoft.com/project`` schema:
``<Project>`` with plan properties, then ``<Tasks>``, ``<Resources>`` and ``<Assignments>``.
It is read with ``iterparse`` and every finished ``<Task>``/``<Resource>``/``<Assignment>``
is reduced to a small dict and cleared, so a large plan never sits in memory as a tree.
Files without the namespace (some exporters drop it) read the same.

``.mpp`` (the binary format) has no public specification: it is converted to MSPDI by the
MPXJ library (the optional ``mpp`` extra: ``pip install 'pmohub[mpp]'``, which needs a Java
runtime) and then read exactly like an XML plan.
"""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pmohub.connectors.errors import ConfigError

#: Child elements that repeat inside a task/resource/assignment: kept as lists of dicts.
REPEATED = frozenset({"PredecessorLink", "Baseline", "ExtendedAttribute", "TimephasedData"})
#: Nested blocks we do not use and skip wholesale (they can be large).
SKIPPED = frozenset({"TimephasedData", "Calendars", "OutlineCodes", "WBSMasks", "Rates"})
RECORDS = {"Tasks": "Task", "Resources": "Resource", "Assignments": "Assignment"}


@dataclass
class Plan:
    path: Path
    properties: dict[str, str] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    # custom field definitions: FieldID -> {FieldID, FieldName (Text1...), Alias}
    field_defs: dict[str, dict[str, str]] = field(default_factory=dict)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_dict(elem: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        name = _local(child.tag)
        if name in SKIPPED and name not in REPEATED:
            continue
        if name in REPEATED:
            if name == "TimephasedData":
                continue
            out.setdefault(name, []).append({_local(c.tag): (c.text or "").strip() for c in child})
        else:
            out[name] = (child.text or "").strip()
    return out


def read_mspdi(path: Path, *, shown_as: Path | None = None) -> Plan:
    """Parse an MSPDI file. ``shown_as`` is the name used in error messages (the ``.mpp``
    the user configured, when ``path`` is its converted copy)."""
    name = shown_as or path
    plan = Plan(path=name)
    lists = {"Task": plan.tasks, "Resource": plan.resources, "Assignment": plan.assignments}
    depth = 0
    root_seen = False
    try:
        # defusedxml: no entity expansion, no DTD fetch (an XML bomb or an external
        # entity reading /etc/passwd); a plan never needs either
        for event, elem in SafeET.iterparse(str(path), events=("start", "end")):
            tag = _local(elem.tag)
            if event == "start":
                depth += 1
                if depth == 1:
                    if tag != "Project":
                        raise ConfigError(
                            f"{name}: not an MS Project XML (MSPDI) file: the root element "
                            f"is <{tag}>, expected <Project>"
                        )
                    root_seen = True
                continue
            depth -= 1
            if depth == 1 and tag not in RECORDS and tag not in SKIPPED:
                if len(elem) == 0:
                    plan.properties[tag] = (elem.text or "").strip()
                elem.clear()
            elif depth == 2 and tag in lists:
                lists[tag].append(_element_dict(elem))
                elem.clear()
            elif depth == 2 and tag == "ExtendedAttribute":
                definition = {_local(c.tag): (c.text or "").strip() for c in elem}
                if definition.get("FieldID"):
                    plan.field_defs[definition["FieldID"]] = definition
                elem.clear()
            elif depth == 1:
                elem.clear()
    except ET.ParseError as exc:
        line, col = exc.position
        raise ConfigError(f"{name}: line {line}, column {col}: broken XML ({exc.msg})") from exc
    except DefusedXmlException as exc:
        raise ConfigError(
            f"{name}: refused XML: {exc} (entities and DTDs are not allowed in a plan)"
        ) from exc
    except RecursionError:
        raise ConfigError(f"{name}: XML nested too deeply to read") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the plan: {exc.strerror or exc}") from exc
    if not root_seen:
        raise ConfigError(f"{name}: empty file, expected an MS Project XML (MSPDI) plan")
    return plan


def convert_mpp(path: Path, out_dir: Path) -> Path:
    """``.mpp`` (or any format MPXJ reads) -> MSPDI in ``out_dir``, through MPXJ on a JVM
    started once per process (JPype cannot restart one)."""
    try:
        import jpype  # type: ignore[import-not-found]
        import mpxj  # type: ignore[import-not-found]  # noqa: F401 - puts the jars on the classpath
    except ImportError as exc:
        raise ConfigError(
            f"{path}: reading .mpp files needs the optional MPXJ support: "
            "pip install 'pmohub[mpp]' (and a Java runtime); or save the plan as XML "
            "(File > Save As > XML) and configure that file"
        ) from exc
    try:
        if not jpype.isJVMStarted():
            jpype.startJVM()
        try:
            reader_cls = jpype.JClass("org.mpxj.reader.UniversalProjectReader")
            writer_cls = jpype.JClass("org.mpxj.mspdi.MSPDIWriter")
        except TypeError:  # MPXJ < 14 kept the old package name
            reader_cls = jpype.JClass("net.sf.mpxj.reader.UniversalProjectReader")
            writer_cls = jpype.JClass("net.sf.mpxj.mspdi.MSPDIWriter")
        project = reader_cls().read(str(path))
        if project is None:
            raise ConfigError(f"{path}: MPXJ does not recognise this file as a project plan")
        target = out_dir / (path.stem + ".xml")
        writer_cls().write(project, str(target))
        return target
    except ConfigError:
        raise
    except Exception as exc:  # Java exceptions arrive as JPype proxies
        raise ConfigError(f"{path}: MPXJ could not read the plan: {exc}") from exc


def read_plan(path: Path) -> Plan:
    """An MSPDI file as is; anything else (``.mpp``, ``.mpx``...) through MPXJ."""
    if not path.exists():
        raise ConfigError(f"{path}: plan file not found")
    if path.suffix.lower() == ".xml":
        return read_mspdi(path)
    with tempfile.TemporaryDirectory(prefix="pmohub-mpp-") as tmp:
        converted = convert_mpp(path, Path(tmp))
        return read_mspdi(converted, shown_as=path)


def text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    return str(value)
