"""The peers benchmark (bench/peers.py): alembic-drill check side by side with the other
ways of testing an Alembic history, on the same generated histories and servers.

One concept per module: ``venv`` (the peers' own virtual environment), ``tools`` (what
each tool runs and how a run is proven to have passed), ``measure`` (wall time and peak
memory of a subprocess tree), ``report`` (medians, ratios, growth, the markdown table)
and ``plot`` (the PNG, run with the peers' matplotlib). ``suites/`` holds the pytest
files each pytest-based tool runs, copied next to every generated history.
"""
