"""`activation_<name>`: one run of a destination's sync (cdpflow run and its Airflow DAG)."""

from __future__ import annotations

from collections.abc import Callable

from cdpflow.activation.channel import Channel
from cdpflow.activation.destination import Destination, load_destination
from cdpflow.activation.sync import SyncResult, sync
from cdpflow.errors import TerminalError
from cdpflow.runs import Interval
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    name: str,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
    allow_mass_removal: bool = False,
) -> SyncResult:
    """Sync destination `name`; `dry_run` sends nothing and lists what would change,
    `allow_mass_removal` lets this one run remove more than the destination's share."""
    destination = load_destination(settings, name)
    return sync(
        settings,
        destination,
        open_channel,
        dry_run=dry_run,
        allow_mass_removal=allow_mass_removal,
        progress=progress,
    )


def secret_of(settings: Settings, destination: Destination) -> str:
    value = open_secrets(settings).get(destination.secret)
    if not value:
        raise TerminalError(
            f"Destination `{destination.name}` names secret `{destination.secret}`, which is not "
            f"stored; run `cdpflow secrets set {destination.secret}`."
        )
    return value


def open_channel(destination: Destination, settings: Settings) -> Channel:
    """The channel client of the destination's type, with its secret from the store."""
    secret = secret_of(settings, destination)
    if destination.type == "klaviyo":
        from cdpflow.activation.klaviyo import KlaviyoChannel

        return KlaviyoChannel(destination, settings, secret)
    if destination.type == "meta_custom_audience":
        from cdpflow.activation.meta import MetaChannel

        return MetaChannel(destination, settings, secret)
    from cdpflow.activation.webhook import WebhookChannel

    return WebhookChannel(destination, settings, secret)
