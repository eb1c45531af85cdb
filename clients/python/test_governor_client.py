"""Tests of governor_client against a running governor (the local stack).

test/node/python-client.test.ts starts the stack and runs these with:

    GOVERNOR_URL, GOVERNOR_WEBHOOK_SECRET             the governor
    GOVERNOR_REDIS_REST_URL, GOVERNOR_REDIS_REST_TOKEN its REST bridge (to break Redis)

By hand: `npm start`, export those from .dev/stack.json, then
`cd clients/python && python3 -m unittest -v test_governor_client`.
"""

import json
import os
import socket
import unittest
import urllib.request
import uuid

from governor_client import (
    GovernorClient,
    GovernorError,
    GovernorUnavailable,
    InvalidPlan,
    PayloadTooLarge,
    PlanIdConflict,
    Unauthorized,
    error_for,
    sign,
)

URL = os.environ.get("GOVERNOR_URL")
SECRET = os.environ.get("GOVERNOR_WEBHOOK_SECRET")
BRIDGE = os.environ.get("GOVERNOR_REDIS_REST_URL")
BRIDGE_TOKEN = os.environ.get("GOVERNOR_REDIS_REST_TOKEN")
STACK = all((URL, SECRET, BRIDGE, BRIDGE_TOKEN))


def plan_id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def plan(pid, **fields):
    body = {"plan_id": pid, "symbol": "BTCUSDT", "action": "OPEN", "decision": "EXECUTE"}
    body.update(fields)
    return body


def close(pid, symbol="BTCUSDT"):
    return plan(pid, symbol=symbol, action="FULL_CLOSE_PROPOSED", reduceOnly=True)


def bridge_fault(fault):
    """Make the next `times` Redis requests fail (None clears it): the governor answers 503."""
    request = urllib.request.Request(
        BRIDGE + "/__bridge/fault",
        data=json.dumps(fault).encode(),
        method="PUT",
        headers={"Authorization": "Bearer " + BRIDGE_TOKEN},
    )
    urllib.request.urlopen(request, timeout=5).read()


class RecordingSleep:
    """Sleeps for real and remembers each delay (the retries the client made)."""

    def __init__(self):
        self.delays = []

    def __call__(self, seconds):
        self.delays.append(seconds)
        __import__("time").sleep(seconds)


class SignatureTest(unittest.TestCase):
    def test_reference_signature(self):
        # The same reference value as test/unit/governor-client.test.ts.
        body = b'{"plan_id":"p1","symbol":"BTCUSDT"}'
        self.assertEqual(
            sign("webhook-secret", "1764000000", body),
            "76ebe31804f040ffd0bd5233bcd9156186ce3c61eba74f6d162e0989fd1ae319",
        )

    def test_error_for_maps_each_status_to_its_class(self):
        cases = {
            400: InvalidPlan,
            401: Unauthorized,
            409: PlanIdConflict,
            413: PayloadTooLarge,
            503: GovernorUnavailable,
        }
        for status, kind in cases.items():
            error = error_for(status, {"error": {"code": "c", "message": "m"}})
            self.assertIs(type(error), kind)
            self.assertEqual((error.status, error.code), (status, "c"))
            self.assertEqual(str(error), "governor answered HTTP %d (c): m" % status)
        other = error_for(500, "oops")
        self.assertIs(type(other), GovernorError)
        self.assertEqual(other.code, "http_500")


@unittest.skipUnless(STACK, "GOVERNOR_URL and the other GOVERNOR_* variables are not set")
class AgainstGovernorTest(unittest.TestCase):
    def setUp(self):
        self.sleep = RecordingSleep()
        self.client = GovernorClient(URL, SECRET, timeout=10.0, backoff=0.05, sleep=self.sleep)

    def tearDown(self):
        bridge_fault(None)

    def test_a_plan_that_is_not_execute_is_ignored(self):
        pid = plan_id("py-ignored")
        decision = self.client.submit_plan(plan(pid, decision="HOLD"))
        self.assertEqual(decision["decision"], "IGNORED")
        self.assertEqual(decision["plan_id"], pid)

    def test_an_entry_gets_its_decision_body(self):
        # The local stack starts without a policy: every entry blocks, with its reason.
        decision = self.client.submit_plan(plan(plan_id("py-entry"), score=2.0))
        self.assertEqual(decision["decision"], "BLOCK")
        self.assertEqual(decision["reason"], "active_slots_no_policy")

    def test_a_close_is_allowed(self):
        decision = self.client.submit_plan(close(plan_id("py-close")))
        self.assertEqual(decision["decision"], "ALLOW")

    def test_non_ascii_bodies_are_signed_as_sent(self):
        decision = self.client.submit_plan(plan(plan_id("py-utf8"), decision="HOLD", note="é ✓"))
        self.assertEqual(decision["decision"], "IGNORED")

    def test_a_wrong_secret_raises_unauthorized(self):
        client = GovernorClient(URL, "not-the-secret", sleep=self.sleep)
        with self.assertRaises(Unauthorized) as caught:
            client.submit_plan(plan(plan_id("py-401")))
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))
        self.assertEqual(self.sleep.delays, [])

    def test_a_clock_ten_minutes_off_raises_unauthorized(self):
        client = GovernorClient(URL, SECRET, clock=lambda: __import__("time").time() - 600)
        with self.assertRaises(Unauthorized):
            client.submit_plan(plan(plan_id("py-skew")))

    def test_an_invalid_plan_raises_invalid_plan(self):
        with self.assertRaises(InvalidPlan) as caught:
            self.client.submit_plan(plan(plan_id("py-400"), symbol="btc-usdt"))
        self.assertEqual((caught.exception.status, caught.exception.code), (400, "invalid_plan"))

    def test_a_body_over_16_kib_raises_payload_too_large(self):
        with self.assertRaises(PayloadTooLarge) as caught:
            self.client.submit_plan(plan(plan_id("py-413"), padding="x" * 17000))
        self.assertEqual(caught.exception.status, 413)

    def test_a_503_is_retried_and_the_retry_answers(self):
        bridge_fault({"times": 1, "status": 500})
        decision = self.client.submit_plan(close(plan_id("py-503-once")))
        self.assertEqual(decision["decision"], "ALLOW")
        self.assertEqual(len(self.sleep.delays), 1)

    def test_503s_are_retried_a_bounded_number_of_times(self):
        bridge_fault({"times": 100, "status": 500})
        with self.assertRaises(GovernorUnavailable) as caught:
            self.client.submit_plan(close(plan_id("py-503-always")))
        self.assertEqual(caught.exception.status, 503)
        self.assertEqual(len(self.sleep.delays), self.client.max_attempts - 1)
        delays = self.sleep.delays
        self.assertTrue(all(later > earlier for earlier, later in zip(delays, delays[1:])))

    def test_a_reused_plan_id_for_another_plan_raises_plan_id_conflict(self):
        pid = plan_id("py-409")
        first = self.client.submit_plan(close(pid, symbol="BTCUSDT"))
        self.assertEqual(first["decision"], "ALLOW")
        try:
            answer = self.client.submit_plan(close(pid, symbol="ETHUSDT"))
        except PlanIdConflict as conflict:
            self.assertEqual((conflict.status, conflict.code), (409, "plan_id_conflict"))
            return
        # A governor from before docs/contract.md's amendment replays the first decision.
        self.assertTrue(answer.get("replayed"))
        self.skipTest("this governor predates plan_id_conflict (docs/contract.md): it replayed")

    def test_an_unreachable_governor_raises_unavailable_without_retrying(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = GovernorClient("http://127.0.0.1:%d" % port, SECRET, sleep=self.sleep)
        with self.assertRaises(GovernorUnavailable) as caught:
            client.submit_plan(close(plan_id("py-down")))
        self.assertIsNone(caught.exception.status)
        self.assertEqual(self.sleep.delays, [])


if __name__ == "__main__":
    unittest.main()
