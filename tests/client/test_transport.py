"""How a call travels, against a scripted local server (tests/client/fakes.py): retries where
they are safe and only there, Retry-After, the total deadline, the cap on an answer's size,
redirects, and one-line failures classified by type."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from client import Client, ClientError, TooLargeAnswer, Unavailable
from client.deadline import Deadline
from client.transport import RETRY_AFTER_CAP, DeadlineRetry
from tests.client.fakes import FakeService, answer, job_json, model_json
from tests.client.test_client import free_port  # the process harness, as the client's tests import it

PREDICTION = {"label": "red", "probabilities": {"red": 0.9, "not_red": 0.1}}


def flaky(*statuses: int, then=None, headers: dict | None = None):
    """A route that answers each of ``statuses`` once (as a tinymlp error), then ``then``."""
    left = list(statuses)

    def route(h):
        if left:
            status = left.pop(0)
            h.send_json(status, {"code": status, "message": f"try again ({status})"}, headers)
        else:
            h.send_json(200, then)

    return route


def hang_up(h) -> None:
    """Read the request, then close the connection without a word."""
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def test_a_read_is_retried_on_502_503_504_with_one_request_id():
    with FakeService({("GET", "/models/red"): flaky(502, 503, 504, then=model_json())}) as fake, \
            Client(fake.base, retries=3) as client:
        assert client.model("red").served_version == 1
    assert fake.paths() == ["GET /models/red"] * 4
    assert len({headers["X-Request-ID"] for *_, headers in fake.hits}) == 1


def test_a_prediction_is_retried_but_a_job_submission_and_a_cancel_never_are():
    routes = {("POST", "/predict/red"): flaky(503, then={"model": "red", "version": 1, "predictions": [PREDICTION]}),
              ("POST", "/train/red"): flaky(503, then=job_json(status="queued")),
              ("POST", "/train/jobs/j1/cancel"): flaky(502, then=job_json())}
    with FakeService(routes) as fake, Client(fake.base, token="t", retries=3) as client:
        assert client.predict("red", [[255, 0, 0]]).labels == ["red"]
        with pytest.raises(Unavailable, match=r"try again \(503\)") as e:
            client.train("red", epochs=1)
        assert e.value.status == 503
        with pytest.raises(Unavailable, match=r"try again \(502\)"):
            client.cancel("j1")
    assert fake.paths() == ["POST /predict/red"] * 2 + ["POST /train/red", "POST /train/jobs/j1/cancel"]


def test_a_dropped_connection_is_retried_for_a_read_and_never_for_a_submission():
    with FakeService({("GET", "/models/red"): hang_up, ("POST", "/train/red"): hang_up}) as fake, \
            Client(fake.base, token="t", retries=2) as client:
        with pytest.raises(Unavailable, match=r"^the connection to http://127\.0\.0\.1:\d+/models/red closed "
                                              r"before the whole answer came \(request \w+\)$") as e:
            client.model("red")
        assert e.value.status is None and str(e.value).endswith(f"(request {e.value.request_id})")
        with pytest.raises(Unavailable, match="closed before the whole answer came"):
            client.train("red", epochs=1)
    assert fake.paths() == ["GET /models/red"] * 3 + ["POST /train/red"]


def test_a_submission_is_retried_when_the_connection_could_not_be_made():
    port = free_port()  # nothing listens there yet: the connection is refused, so nothing was sent
    late: list[FakeService] = []

    def start_later():
        time.sleep(0.3)
        late.append(FakeService({("POST", "/train/red"): answer(202, job_json(status="queued"))}, port).__enter__())

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        with Client(f"http://127.0.0.1:{port}", token="t", retries=6, timeout=60) as client:
            job = client.train("red", epochs=1)  # backoff 0, 0.5, 1, 2, 4... s: the service is up by then
        assert job.status == "queued" and late[0].paths() == ["POST /train/red"]
    finally:
        starter.join()
        for fake in late:
            fake.__exit__()


def test_retry_after_is_honoured_up_to_a_cap_and_never_past_the_deadline():
    retry = DeadlineRetry(total=3)
    assert retry.parse_retry_after("2") == 2
    assert retry.parse_retry_after("3600") == RETRY_AFTER_CAP
    assert retry.parse_retry_after("soon") == 0  # not a delay: the usual backoff
    with Deadline(1.5):
        assert 0 < retry.parse_retry_after("3600") <= 1.5 and retry.get_backoff_time() <= 1.5
    with FakeService({("GET", "/models/red"): flaky(503, then=model_json(), headers={"Retry-After": "1"})}) as fake, \
            Client(fake.base, retries=1) as client:
        assert client.model("red").served_version == 1
    assert fake.paths() == ["GET /models/red"] * 2


def test_a_trickling_answer_ends_at_the_deadline():
    body = json.dumps(model_json()).encode()

    def trickle_body(h):  # headers at once, then the body a byte every 0.2 s (about 40 s in all)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.trickle(body, 0.2)

    def trickle_headers(h):  # the status line and headers themselves a byte at a time
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        h.trickle(b"Content-Type: application/json\r\nX-Slow: " + b"x" * 200 + b"\r\n\r\n", 0.2)

    routes = {("GET", "/models/red"): trickle_body, ("GET", "/models/slow"): trickle_headers}
    with FakeService(routes) as fake, Client(fake.base, timeout=1.5, retries=2) as client:
        for name in ("red", "slow"):
            with pytest.raises(Unavailable, match=rf"/models/{name} did not answer in full within 1\.5 s"):
                client.model(name)
            time.sleep(0.5)  # the fake's next byte finds the connection gone
    assert fake.paths() == ["GET /models/red", "GET /models/slow"]  # the deadline ends the retries too
    # The client hung up mid-answer: it did not sit through the trickle and judge it afterwards.
    assert sorted(fake.server.trickles) == [("/models/red", "cut"), ("/models/slow", "cut")]


@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_larger_than_the_cap_is_refused_while_it_streams(declared):
    size = 20 * 2**20

    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if declared:
            h.send_header("Content-Length", str(size))
        else:
            h.close_connection = True  # the body ends when the connection does
        h.end_headers()
        chunk = b" " * 2**16
        for _ in range(size // len(chunk)):
            h.wfile.write(chunk)

    with FakeService({("GET", "/models"): huge}) as fake, \
            Client(fake.base, max_answer_bytes=2**20, timeout=60) as client, \
            pytest.raises(TooLargeAnswer, match=r"/models answered .*more than the client takes \(1 MiB; raise "
                                                r"max_answer_bytes"):
        client.models()


def test_a_mutating_call_never_follows_a_redirect():
    with FakeService({("*", "/train/red"): answer(202, job_json(status="queued")),
                      ("*", "/train/jobs/j1"): answer(200, job_json())}) as elsewhere:
        routes = {("POST", "/train/red"): lambda h: h.send_json(308, {}, {"Location": elsewhere.base + "/train/red"}),
                  ("POST", "/train/jobs/j1/cancel"): lambda h: h.send_json(302, {}, {"Location": elsewhere.base +
                                                                                      "/train/jobs/j1"}),
                  ("DELETE", "/train/jobs/j2"): lambda h: h.send_json(307, {}, {"Location": "/train/jobs/j1"})}
        with FakeService(routes) as fake, Client(fake.base, token="t") as client:
            with pytest.raises(ClientError, match=r"^POST http://127\.0\.0\.1:\d+/train/red was redirected \(308\) to "
                                                  r"http://127\.0\.0\.1:\d+/train/red: not followed, a call that "
                                                  r"changes something is never sent on") as e:
                client.train("red", epochs=1, examples=[([250, 10, 10], "red")])
            assert e.value.status == 308
            with pytest.raises(ClientError, match=r"redirected \(302\) .* not followed"):
                client.cancel("j1")
            with pytest.raises(ClientError, match=r"redirected \(307\) .* not followed"):  # even on the same host
                client.delete_job("j2")
    assert elsewhere.hits == [] and fake.paths() == ["POST /train/red", "POST /train/jobs/j1/cancel",
                                                     "DELETE /train/jobs/j2"]


def test_a_read_follows_a_redirect_on_the_same_host_only():
    prediction = {"model": "red", "version": 1, "predictions": [PREDICTION]}
    with FakeService({("*", "/models/red"): answer(200, model_json())}) as elsewhere:
        routes = {("GET", "/models/old"): lambda h: h.send_json(301, {}, {"Location": "/models/red"}),
                  ("GET", "/models/red"): answer(200, model_json(served_version=7)),
                  ("GET", "/models/away"): lambda h: h.send_json(302, {}, {"Location": elsewhere.base + "/models/red"}),
                  ("POST", "/predict/old"): lambda h: h.send_json(307, {}, {"Location": "/predict/red"}),
                  ("POST", "/predict/red"): answer(200, prediction),
                  ("POST", "/predict/lost"): lambda h: h.send_json(302, {}, {"Location": "/predict/red"})}
        with FakeService(routes) as fake, Client(fake.base) as client:
            assert client.model("old").served_version == 7
            assert client.predict("old", [[255, 0, 0]]).labels == ["red"]  # a 307 keeps the method and body
            with pytest.raises(ClientError, match=r"redirected \(302\) to http://127\.0\.0\.1:\d+/models/red: not "
                                                  r"followed, another host"):
                client.model("away")
            with pytest.raises(ClientError, match=r"a 302 would turn it into a GET"):
                client.predict("lost", [[255, 0, 0]])
    assert elsewhere.hits == []
    assert [body for method, path, body, _ in fake.hits if path == "/predict/red"] == [b'{"inputs": [[255, 0, 0]]}']


def test_failures_are_one_line_classified_by_type():
    port = free_port()
    with Client(f"http://127.0.0.1:{port}", retries=0) as client, \
            pytest.raises(Unavailable, match=rf"^could not reach http://127\.0\.0\.1:{port}/models: connection "
                                             r"refused \(is the service running there\?\) \(request \w+\)$") as e:
        client.models()
    assert str(e.value) == f"{e.value.message} (request {e.value.request_id})" and "(," not in str(e.value)
    with Client("http://no-such-host.invalid", retries=0) as client, \
            pytest.raises(Unavailable, match=r"^could not reach http://no-such-host\.invalid/models: the host name "
                                             r"'no-such-host\.invalid' cannot be resolved \(request \w+\)$"):
        client.models()
    with FakeService({("GET", "/models"): lambda h: time.sleep(3)}) as fake, \
            Client(fake.base, retries=0, timeout=0.5) as client, \
            pytest.raises(Unavailable, match=r"/models did not answer (in full )?within 0\.5 s"):
        client.models()
