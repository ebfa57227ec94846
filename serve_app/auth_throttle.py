"""Failed authentications, counted per client address: past a few dozen a minute, that address's unknown
secrets are answered 429 at once, without a database lookup (guessing keys, or flooding the key store with
random ones, costs the platform nothing more). A key that authenticated in the last hour still passes."""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from serve_app.errors import RateLimitError


class FailedAuthThrottle:
    """One per ingress replica: each replica counts the failures it sees."""

    def __init__(self, failures_per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerMinute(failures_per_minute)

    def check(self, address: str) -> None:
        """Raises a 429 when ``address`` has failed to authenticate too often in the last minute."""
        if not self._limiter.test(self._item, address):
            raise RateLimitError(
                f"Too many failed authentications from your address: at most {self._item.amount} a minute. "
                "Check the API key you send, and retry later.", code="too_many_failed_authentications",
                headers={"retry-after": "60"})

    def failed(self, address: str) -> None:
        self._limiter.hit(self._item, address)
