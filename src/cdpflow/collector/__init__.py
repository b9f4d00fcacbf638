"""The event collector: an ASGI app that lands SDK traffic durably in the raw zone."""
