"""Entities: segments and funnels declared as YAML files in $CDPFLOW_HOME/entities.

`spec` says what a file may contain and what it parses into, `parse` checks one file and `folder`
the references between them (all pure, no engine); `compile` renders each entity as SQL over
the lake's tables; the entity_creation job runs that SQL through the engine and commits the
results as lake tables.
"""
