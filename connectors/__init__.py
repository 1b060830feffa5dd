"""Connectors: fetch only. Each sub-package yields ``connectors.records`` for one tracker."""
