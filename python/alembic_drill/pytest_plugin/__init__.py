"""alembic-drill's pytest plugin (entry point ``pytest11: alembic_drill``).

pytest imports this module in every run of an environment where alembic-drill is
installed, so it must import nothing heavy, start nothing and change nothing until a test
asks for alembic-drill. Fixtures, hooks and generated checks arrive with the drills; until
then the plugin registers nothing, so installing alembic-drill leaves every existing test
run exactly as it was.
"""
