"""Chat digests of the report for Slack and Microsoft Teams (issue 17, docs/notify.md).

``digest`` maps a built report to a :class:`~aggregator.report.chat.digest.Digest`;
``slack`` and ``teams`` render it as Block Kit and as an Adaptive Card within each
service's limits; ``escape`` makes tracker text inert in each format; ``deliver`` posts
with retries and pacing; ``notify`` ties them to the config's ``notify`` section.
"""
