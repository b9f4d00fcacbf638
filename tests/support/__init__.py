"""Helpers the tests share: fixtures' building blocks, real servers started on loopback, the
shape of test data. Tests import them from here (`from support.lake import lake_query`), never
from conftest or from another test module, so a test module's helpers stay its own."""
