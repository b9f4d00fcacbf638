"""Outgoing notifications (e-mail)."""
