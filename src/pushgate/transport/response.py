"""The answer to one request, as the pool hands it back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]  # lowercase names, no pseudo-headers, in order
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None
