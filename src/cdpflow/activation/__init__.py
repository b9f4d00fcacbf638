"""Activation: segments sent to the channels where marketers act on them (Klaviyo lists, Meta
Custom Audiences, webhooks), one declared file and one DAG per destination."""
