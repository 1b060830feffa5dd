"""Spreadsheet connector (CSV and XLSX)."""
