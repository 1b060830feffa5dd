"""The chat digest: what a PMO channel needs to see each morning, taken from the report
model the nightly run has just built (so the digest never disagrees with the report).

:func:`to_digest` is a pure mapper ``Report -> Digest``: the portfolio's RAG with the
reasons of every portfolio and programme, the new high findings, overdue milestones,
over-allocated people, decisions needed, and the link to the full report. Every part
keeps its true ``total`` beside the first ``max_items`` lines, so a renderer that has to
cut says how many more the report holds. Texts are plain, unescaped strings: escaping
belongs to each format (aggregator/report/chat/escape.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pmohub.aggregator.report.i18n import t, text_of
from pmohub.aggregator.report.model import Report, Section, Table
from pmohub.rules.builtin.resources import PERSON_PREFIX

WORDS: dict[str, tuple[str, str]] = {
    "title": ("PMO digest", "PMO 每日简报"),
    "overall": ("Portfolio RAG", "项目组合总体状态"),
    "status": ("Portfolios and programmes", "项目组合与项目群"),
    "findings": ("New high findings", "新增高风险检查项"),
    "milestones": ("Overdue milestones", "逾期里程碑"),
    "people": ("Over-allocated people", "超负荷人员"),
    "decisions": ("Decisions needed", "待决策事项"),
    "report": ("Full report", "完整报告"),
    "open_report": ("Open the full report", "打开完整报告"),
    "more": ("… {n} more in the report", "……另有 {n} 项，详见报告"),
    "none": ("none", "无"),
    "due": ("due {day}, {slip} working day(s) late", "计划 {day}，已延迟 {slip} 个工作日"),
    "load": (
        "peak {load} in {week} ({weeks} week(s) over 100%)",
        "{week} 负荷 {load}（{weeks} 周超过 100%）",
    ),
    "as_of": ("as of {day}", "截至 {day}"),
}

#: the parts of a digest after the RAG rows, in order
PARTS = ("findings", "milestones", "people", "decisions")

_CJK = re.compile(r"[\u3400-\u9fff]")


def word(key: str, lang: str, **params: Any) -> str:
    en, zh = WORDS[key]
    text = zh if lang == "zh" else en
    return text.format(**params) if params else text


@dataclass(frozen=True)
class DigestLine:
    label: str  # shown in bold: a project, person or rule
    text: str  # the detail; tracker text as is
    rag: str | None = None  # red | amber | green | ne, for the RAG rows


@dataclass
class DigestPart:
    key: str  # one of PARTS
    title: str
    lines: list[DigestLine] = field(default_factory=list)
    total: int = 0  # lines the report holds (>= len(lines))

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.lines))


@dataclass
class Digest:
    lang: str
    title: str
    as_of_text: str
    overall_rag: str
    overall_label: str
    rag_lines: list[DigestLine]
    parts: list[DigestPart]
    report_url: str | None = None
    report_hint: str | None = None  # shown when there is no URL (e.g. the file name)

    def word(self, key: str, **params: Any) -> str:
        return word(key, self.lang, **params)


def one_language(text: str, lang: str) -> str:
    """Rule messages carry both languages as ``English / 中文``; keep the reader's half.
    Only a right half with Chinese characters counts as the translation, so a tracker
    title that merely contains `` / `` is left whole."""
    left, sep, right = text.rpartition(" / ")
    if not sep or _cjk_share(left) >= 0.3 or _cjk_share(right) <= _cjk_share(left):
        return text
    return right if lang == "zh" else left


def _cjk_share(text: str) -> float:
    return len(_CJK.findall(text)) / max(1, len(text.replace(" ", "")))


def _table(sec: Section | None, tid: str) -> Table | None:
    if sec is None:
        return None
    return next((tb for tb in sec.tables if tb.id == tid), None)


def _section(report: Report, sid: str) -> Section | None:
    return next((s for s in report.sections if s.id == sid and s.available), None)


def _rag_lines(report: Report, lang: str) -> list[DigestLine]:
    tb = _table(_section(report, "dashboard"), "status")
    rows = tb.rows if tb else []
    out = []
    for level in ("portfolio", "programme"):
        for r in rows:
            if r.get("level") != level:
                continue
            label = f"{r.get('key')} {r.get('name') or ''}".strip()
            out.append(
                DigestLine(label, str(r.get("reasons") or ""), rag=str(r.get("rag") or "ne"))
            )
    return out


def _findings(report: Report, lang: str) -> list[DigestLine]:
    tb = _table(_section(report, "compliance"), "findings")
    rows = [
        r
        for r in (tb.rows if tb else [])
        if r.get("severity") == "high" and r.get("state") == "new"
    ]
    out = []
    for r in rows:
        who = _named(str(r.get("subject") or ""))
        text = one_language(text_of(r.get("message"), lang), lang)
        if r.get("project"):
            out.append(DigestLine(f"{r.get('rule')} {r.get('project')}", text))
        else:
            out.append(DigestLine(f"{r.get('rule')} {who}".strip(), _after(who, text)))
    return out


def _named(subject: str) -> str:
    """A subject for a chat reader: a person's finding the report could not name (no such
    person in the store) keeps its key, an account id nobody can use there: none."""
    return "" if subject.startswith(PERSON_PREFIX) else subject


def _after(label: str, text: str) -> str:
    """``text`` without a leading ``label``: a person's finding is labelled with the name
    (the report's subject column) that its message starts with."""
    return text[len(label) + 1 :] if label and text.startswith(f"{label} ") else text


def _milestones(report: Report, lang: str) -> list[DigestLine]:
    tb = _table(_section(report, "schedule"), "milestones")
    rows = [r for r in (tb.rows if tb else []) if r.get("state") == "overdue"]
    rows.sort(key=lambda r: -(r.get("slip_wd") or 0))
    return [
        DigestLine(
            f"{r.get('project')} · {r.get('milestone')}",
            word(
                "due",
                lang,
                day=r.get("due_on"),
                slip=r.get("slip_wd") if r.get("slip_wd") is not None else "?",
            ),
        )
        for r in rows
    ]


def _people(report: Report, lang: str) -> list[DigestLine]:
    tb = _table(_section(report, "resources"), "load")
    over: dict[str, list[tuple[float, str]]] = {}
    for r in tb.rows if tb else []:
        load = r.get("load")
        if isinstance(load, int | float) and load > 1.0:
            over.setdefault(str(r.get("person")), []).append((float(load), str(r.get("week"))))
    ranked = sorted(over.items(), key=lambda kv: -max(kv[1])[0])
    return [
        DigestLine(
            person,
            word("load", lang, load=f"{max(w)[0]:.0%}", week=max(w)[1], weeks=len(w)),
        )
        for person, w in ranked
    ]


def _decisions(report: Report, lang: str) -> list[DigestLine]:
    tb = _table(_section(report, "summary"), "decisions")
    out = []
    for r in tb.rows if tb else []:
        item = r.get("message")
        params = item.get("params", {}) if isinstance(item, dict) else {}
        label = _named(str(params.get("key") or ""))
        text = text_of(params.get("title") or params.get("message") or "", lang)
        if isinstance(item, dict) and item.get("key") != "dec.cr_pending":
            text = one_language(text, lang)  # rule messages; a CR title is tracker text
            text = _after(label, text)
        out.append(DigestLine(label, text or text_of(item, lang)))
    return out


READERS = {
    "findings": _findings,
    "milestones": _milestones,
    "people": _people,
    "decisions": _decisions,
}


def to_digest(
    report: Report,
    lang: str,
    *,
    report_url: str | None = None,
    report_hint: str | None = None,
    max_items: int = 8,
) -> Digest:
    """The digest of one report in ``lang`` (``en`` | ``zh``); parts keep at most
    ``max_items`` lines and their full count."""
    lang = "zh" if lang.startswith("zh") else "en"
    parts = []
    for key in PARTS:
        lines = READERS[key](report, lang)
        parts.append(DigestPart(key, word(key, lang), lines[:max_items], len(lines)))
    title = word("title", lang)
    if report.portfolio:
        title = f"{title} · {report.portfolio_name or report.portfolio}"
    return Digest(
        lang=lang,
        title=title,
        as_of_text=word("as_of", lang, day=report.as_of_text()),
        overall_rag=report.overall_rag,
        overall_label=t(f"rag.{report.overall_rag}", lang),
        rag_lines=_rag_lines(report, lang),
        parts=parts,
        report_url=report_url,
        report_hint=report_hint,
    )
