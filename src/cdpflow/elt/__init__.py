"""ELT pipelines: offline sources declared once as `$CDPFLOW_HOME/pipelines/<name>.yml`, each run
as DAG `elt_<name>`, landing lake tables `<pipeline>__<resource>` merged by primary key.

Source types (the seam every type is built on)
----------------------------------------------
A type is one module `cdpflow.elt.<type>` registered by one line in `cdpflow.elt.registry.TYPES`
(imported only when a pipeline of that type is read, so a type's client library costs nothing
to the others). The module provides:

- `PIPELINE_KEYS: frozenset[str]` and `RESOURCE_KEYS: frozenset[str]`: the keys the type adds
  to the common ones (top level: type, schedule, resources, description; per resource: name,
  primary_key, cursor, deletes, columns, role, fields). Any other key fails the file.
- `check_pipeline(data, check) -> dict`: validates the type's top-level keys of the file's
  mapping `data`; returns them as `Pipeline.options`. Errors are `check.fail(key, problem)`
  (a `DeclarationError` naming the file, the key and the value it got). Secrets are named, never
  held: a key such as `token_secret: shop_token` names an entry of the secrets store
  (`check.secret_name(key, value)` validates one).
- `check_resource(item, key, check) -> dict`: the same for one resource mapping `item` at
  `key` (as `resources[0]`); returns `Resource.options`. `check.home` resolves relative paths.
- optional `default_resources(options) -> list[dict]`: the resources of a file that declares
  none (a Shopify shop's customers, orders, products), in the file's own resource syntax; a
  file that lists one of them by name gets its keys too, under the file's own.
- `extract(pipeline, resource, state, source, emit) -> dict`: calls `emit(rows)` with the rows
  the source has that `state` (the JSON-able dict this function returned last time, `{}` at
  first) has not yet seen, as pyarrow Tables in source order (a later row wins a primary-key tie
  without a cursor), a chunk at a time (a page: the job checks and stages each, so memory holds
  a few whatever the sync's size); returns the new state. It must not write anything: the job
  commits rows and state together in one snapshot per table after every resource of the run
  has been extracted and checked, so an error from
  any extract (raise `cdpflow.errors.TerminalError` for what a retry cannot fix, naming the
  pipeline, resource and what to fix; `TransientError` for what it may) commits nothing and the
  re-run starts from the same state. `source` is a `cdpflow.elt.config.Source`: `source.settings`
  (endpoints, API versions, attempts) and `source.secrets`; a type reads the secret its file
  names and never puts its value in an error or the lake.
  Deletes: a type that learns of deleted rows emits them as rows with their key and the
  resource's `deletes` column true.
- optional, for a source that must first run a job of its own (airbyte): `start_sync(pipeline,
  source) -> int` (the job id), `sync_done(pipeline, source, job_id) -> bool` (raises when the
  job failed) and `sync(pipeline, source, *, job_id=None) -> str` (start or follow it until it
  has succeeded; a line for the run's summary). The job runs `sync` before extracting; such a
  pipeline's DAG is trigger -> wait (a reschedule-mode sensor) -> land (cdpflow.elt.dag).
"""
