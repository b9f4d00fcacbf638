"""Local servers that enforce the documented contracts of APIs the tests cannot reach."""
