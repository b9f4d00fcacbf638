"""Identity stitching: a graph of identifiers that gives every person a stable global_user_id.

Pure (no I/O): `normalize` (canonical values, junk), `prepare` (records -> sightings and links),
`graph` (people and their ids), `ids` (the id hash), `arrays` (shared helpers). `config` reads
the declared id mapping, `sources` reads offline records, and `store` keeps the graph in the lake.
"""
