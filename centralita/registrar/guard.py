"""Brute-force protection: a source address that keeps failing digest authentication is
ignored for a while (what fail2ban does for Asterisk, built in).

Theory of operation. Every failed authentication (credentials present but wrong, for any
extension) counts against the source IP in a sliding window; at ``max_failures`` within
``window`` seconds the address is banned for ``ban_seconds``, during which its requests are
dropped without an answer, so a password cracker learns nothing and slows to its timeouts.
A success does not reset the count: crackers interleave a known account. Sans-I/O, ``now``
in; memory is bounded by forgetting quiet addresses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Record:
    failures: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0


class AuthGuard:
    def __init__(
        self,
        *,
        max_failures: int = 10,
        window: float = 60.0,
        ban_seconds: float = 600.0,
        max_tracked: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.ban_seconds = ban_seconds
        self.max_tracked = max_tracked
        self._records: dict[str, _Record] = {}

    def banned(self, host: str, now: float) -> bool:
        record = self._records.get(host)
        return record is not None and record.banned_until > now

    def failed(self, host: str, now: float) -> bool:
        """Count a failure; True when this one got the address banned."""
        record = self._records.get(host)
        if record is None:
            if len(self._records) >= self.max_tracked:
                self._forget(now)
            record = self._records[host] = _Record()
        failures = record.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.max_failures and record.banned_until <= now:
            record.banned_until = now + self.ban_seconds
            failures.clear()
            return True
        return False

    def _forget(self, now: float) -> None:
        quiet = [
            host
            for host, record in self._records.items()
            if record.banned_until <= now
            and (not record.failures or record.failures[-1] <= now - self.window)
        ]
        for host in quiet:
            del self._records[host]
        if len(self._records) >= self.max_tracked:  # still full: drop the oldest entries
            for host in list(self._records)[: self.max_tracked // 10]:
                del self._records[host]
