"""PMO compliance rules: pure checks over store data that return findings."""
