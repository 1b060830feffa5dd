"""The ``pmohub`` command line: thin click commands over the library."""
