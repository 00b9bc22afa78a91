"""Choose the event hub backend from the settings: Redis when ``MBF_REDIS_URL`` is set."""

from __future__ import annotations

from app.config import Settings
from app.events.hub import EventHub
from app.events.memory import MemoryHub
from app.events.redis import RedisHub
from app.store.db import Store


def make_hub(settings: Settings, store: Store) -> EventHub:
    url = settings.effective_redis_url
    if url:
        return RedisHub(
            url,
            queue_size=settings.subscriber_queue_size,
            retention_count=settings.event_retention_count,
            retention_hours=settings.event_retention_hours,
        )
    return MemoryHub(
        store,
        queue_size=settings.subscriber_queue_size,
        retention_count=settings.event_retention_count,
        retention_hours=settings.event_retention_hours,
    )
