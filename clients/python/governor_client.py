"""Client for the governor's webhook (POST /v1/plans), for the Apply Layer.

Standard library only (Python >= 3.9). Copy this one file into the Apply Layer.

    client = GovernorClient("https://governor.example.workers.dev", webhook_secret)
    decision = client.submit_plan({"plan_id": "p-1", "symbol": "BTCUSDT",
                                   "action": "OPEN", "decision": "EXECUTE", "score": 2.0})
    if decision["decision"] == "ALLOW": ...   # BLOCK carries decision["reason"]

The body is signed exactly as the governor checks it: lower-case hex
HMAC-SHA256, keyed with the webhook secret (GOV_WEBHOOK_SECRET), over
"{timestamp}.{raw body bytes}" with the timestamp in unix seconds, sent as the
X-Governor-Timestamp and X-Governor-Signature headers.

Answers other than a decision raise a GovernorError subclass:

    400 InvalidPlan          the body is not JSON or not a plan
    401 Unauthorized         bad or missing signature, or clock more than 300 s off
    409 PlanIdConflict       the plan_id already decided a different plan (code plan_id_conflict)
    413 PayloadTooLarge      the body is over 16 KiB
    503 GovernorUnavailable  a dependency is down; nothing was granted

A 503 is retried (max_attempts in all, exponential backoff with jitter): the
same plan may safely be sent again. A timeout or refused connection raises
GovernorUnavailable (status None) at once: treat it as "no permit".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Optional

__all__ = [
    "GovernorClient",
    "GovernorError",
    "InvalidPlan",
    "Unauthorized",
    "PlanIdConflict",
    "PayloadTooLarge",
    "GovernorUnavailable",
    "sign",
    "error_for",
]

TIMESTAMP_HEADER = "X-Governor-Timestamp"
SIGNATURE_HEADER = "X-Governor-Signature"


class GovernorError(Exception):
    """Any answer but a decision. `status` is None when no answer came back."""

    def __init__(self, message: str, status: Optional[int], code: str, body: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body


class InvalidPlan(GovernorError):
    """400: the body is not JSON or not a plan."""


class Unauthorized(GovernorError):
    """401: missing or bad signature, or a timestamp more than 300 s away."""


class PlanIdConflict(GovernorError):
    """409: this plan_id already decided a different plan; nothing was granted."""


class PayloadTooLarge(GovernorError):
    """413: the body is over 16 KiB."""


class GovernorUnavailable(GovernorError):
    """503, a timeout or no connection: nothing was granted."""


_ERRORS = {
    400: InvalidPlan,
    401: Unauthorized,
    409: PlanIdConflict,
    413: PayloadTooLarge,
    503: GovernorUnavailable,
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over "{timestamp}." followed by exactly the body's bytes."""
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def error_for(status: int, body: Any) -> GovernorError:
    """The typed error of a non-decision answer ({"error": {"code", "message"}})."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    code = code if isinstance(code, str) else "http_%d" % status
    detail = ": %s" % message if isinstance(message, str) else ""
    kind = _ERRORS.get(status, GovernorError)
    return kind("governor answered HTTP %d (%s)%s" % (status, code, detail), status, code, body)


class GovernorClient:
    """Signs and submits plans to one governor.

    base_url: e.g. "https://governor-active-slots-production.example.workers.dev"
    webhook_secret: the governor's GOV_WEBHOOK_SECRET
    timeout: seconds per attempt
    max_attempts: attempts when the governor answers 503 (1 = no retry)
    backoff: seconds before the first retry, doubled for each further one
    """

    def __init__(
        self,
        base_url: str,
        webhook_secret: str,
        timeout: float = 3.0,
        *,
        max_attempts: int = 3,
        backoff: float = 0.2,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not webhook_secret:
            raise ValueError("webhook_secret is required")
        self.url = base_url.rstrip("/") + "/v1/plans"
        self._secret = webhook_secret
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self._clock = clock
        self._sleep = sleep

    def submit_plan(self, plan: Dict[str, Any]) -> Dict[str, Any]:
        """Submit one plan; return the decision body (ALLOW, BLOCK or IGNORED)."""
        body = json.dumps(plan, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        attempt = 1
        while True:
            status, answer = self._post(body)
            if status == 200:
                if isinstance(answer, dict) and answer.get("decision") in (
                    "ALLOW",
                    "BLOCK",
                    "IGNORED",
                ):
                    return answer
                raise GovernorError("governor answered 200 without a decision", 200, "bad_answer", answer)
            error = error_for(status, answer)
            if not isinstance(error, GovernorUnavailable) or attempt >= self.max_attempts:
                raise error
            self._sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4))
            attempt += 1

    def _post(self, body: bytes):
        """One signed POST; returns (status, parsed JSON or text)."""
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise GovernorUnavailable(
                "POST %s failed: %s" % (self.url, reason), None, "unreachable"
            ) from error
        text = raw.decode("utf-8", errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text
