"""Reading the next page while this one is handled: an extract's requests are one after another
(cursor pagination), but the source's time to answer and ours to take the answer apart need not
be."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def prefetched(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The items of `pages`, read ahead by up to `depth` in a thread of their own; an error of
    `pages` is raised here, and leaving the loop early stops the thread."""
    ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in pages:
                while not stop.is_set():
                    try:
                        ahead.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(("done", None))
        except BaseException as err:  # handed to the consumer, raised there
            ahead.put(("error", err))

    thread = threading.Thread(target=produce, name="shopify-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ahead.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                ahead.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
