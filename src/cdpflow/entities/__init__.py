"""Entities: segments and funnels declared as YAML files in $CDPFLOW_HOME/entities.

`spec` parses and checks the files (pure, no engine); `compile` renders each entity as SQL over
the lake's tables; the entity_creation job runs that SQL through the engine and commits the
results as lake tables.
"""
