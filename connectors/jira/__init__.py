"""Jira connector (Cloud and Data Center)."""
