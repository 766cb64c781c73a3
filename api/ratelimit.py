"""Per-user rate limits with the `limits` library: in memory, or in Redis so replicas share one budget."""

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from api.errors import ApiError
from flows.settings import Settings

logger = logging.getLogger("exportflow.api")

KEY_PREFIX = "exportflow"
REDIS_TIMEOUT = 0.5  # seconds; an unreachable Redis must not hold requests (they are served, see spend)


class Bucket(StrEnum):
    """A request spends from one budget: status reads and event streams from `status`, downloads from
    `downloads`, everything else from the seed's general `requests`; creating or executing an export
    also from `creations`. Watching a page of running exports so never starves the rest, nor the
    other way round."""

    REQUESTS = "requests"
    STATUS = "status"
    DOWNLOADS = "downloads"
    CREATIONS = "creations"


@dataclass(frozen=True)
class Allowance:
    limit: int
    remaining: int
    reset_at: float

    @property
    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


class RateLimits:
    """The buckets of one API process, backed by memory or by the Redis at `redis_url`."""

    def __init__(self, settings: Settings) -> None:
        storage: Storage = (
            RedisStorage(
                settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
            )
            if settings.redis_url
            else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(storage)
        window = settings.rate_limit_window_seconds
        budgets = {
            Bucket.REQUESTS: (settings.rate_limit_requests, window),
            Bucket.STATUS: (settings.status_rate_limit_requests, settings.status_rate_limit_window_seconds),
            Bucket.DOWNLOADS: (
                settings.download_rate_limit_requests,
                settings.download_rate_limit_window_seconds,
            ),
            Bucket.CREATIONS: (settings.rate_limit_create_requests, window),
        }
        self._items: dict[Bucket, RateLimitItem] = {
            bucket: RateLimitItemPerSecond(amount, seconds, namespace=KEY_PREFIX)
            for bucket, (amount, seconds) in budgets.items()
        }

    def spend(self, bucket: Bucket, identity: str) -> Allowance:
        """Take one request from the identity's bucket, or raise a 429 ApiError with Retry-After."""
        item = self._items[bucket]
        try:
            allowed = self._limiter.hit(item, bucket.value, identity)
            stats = self._limiter.get_window_stats(item, bucket.value, identity)
        except Exception as error:  # the shared store is down: serve rather than refuse everyone
            logger.error("rate-limit store unavailable, request allowed: %s", type(error).__name__)
            return Allowance(item.amount, item.amount, time.time() + item.get_expiry())
        allowance = Allowance(item.amount, stats.remaining, stats.reset_time)
        if not allowed:
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            message = f"rate limit of {item.amount} {bucket.value} per {item.get_expiry()} s reached"
            raise ApiError(429, message, headers={**allowance.headers, "Retry-After": str(retry_after)})
        return allowance
