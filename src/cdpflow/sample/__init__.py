"""Synthetic storefront traffic (Segment and Blotout payloads) and the matching shop export."""

from cdpflow.sample.generator import generate_events, generate_shop_export
from cdpflow.sample.model import RawMessage, SampleSpec

__all__ = ["RawMessage", "SampleSpec", "generate_events", "generate_shop_export"]
