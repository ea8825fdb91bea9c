"""Fuzzing every input a client controls: the websocket of every lab (hypothesis, from each lab's
own message and config schemas, plus junk) and the REST API (schemathesis, from the OpenAPI
description). Whatever arrives, the server answers with a clear error or does what was asked:
no internal errors, no dropped sockets, and the same connection still configures and trains."""

from __future__ import annotations

import json
import string

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from app.config import Settings
from app.labs import LABS
from app.main import create_app
from app.schemas.common import COMMON_MESSAGES, Configure
from tests.conftest import serve
from tests.strategies import from_json_schema as from_schema
from tests.wsclient import WSClient

pytestmark = [
    pytest.mark.slow,
    # Hypothesis notices the global `random` state change while it draws; here that is the live
    # server's threads in this process (websocket keys, asyncio), not the strategies.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"
    ),
]
BATCHES_PER_LAB = 36  # x ~50 messages x 6 labs: more than 10,000 messages in all
SENT = {"messages": 0}


@pytest.fixture(scope="module")
def fuzz_server():
    settings = Settings(
        device="cpu", workers=1, max_messages_per_s=100_000, max_sessions_per_client=1000,
        evict_grace_s=0,
        # the CNN's largest nets are refused: every message must be cheap enough to send many
        cnn={"max_samples": 500, "max_blocks": 3, "max_channels": 16, "max_fc_units": 64},
    )
    with serve(create_app(settings)) as url:
        yield url


def _json_values():
    scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(
        allow_nan=False, allow_infinity=False
    ) | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
        max_leaves=20,
    )


def _schema(model) -> dict:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


def messages_for(lab) -> st.SearchStrategy[str]:
    """JSON texts: the lab's messages as its schemas describe them (valid, mostly), configure
    with a config drawn from the lab's config schema, the same with one field replaced by junk,
    and plain junk (other types, non-objects, broken JSON, deep nesting)."""
    models = [m for m in (*COMMON_MESSAGES, *lab.messages) if m is not Configure]
    valid = st.one_of(*(from_schema(_schema(m)) for m in models))
    config = from_schema(_schema(lab.config_model)) if lab.config_model else st.just({})
    configure = st.builds(lambda c: {"type": "configure", "config": c}, config)
    mutated = st.tuples(valid | configure, st.text(max_size=12), _json_values()).map(
        lambda t: {**t[0], t[1] or "type": t[2]}
    )
    junk = st.one_of(
        st.dictionaries(st.sampled_from(["type", "config", "steps", "x"]), _json_values()),
        _json_values(),
        st.builds(lambda t: {"type": t}, st.text(alphabet=string.printable, max_size=70)),
    )
    as_text = st.one_of(valid, configure, mutated, junk).map(
        lambda m: json.dumps(m, allow_nan=False)
    )
    broken = st.one_of(
        st.text(max_size=50),
        st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),  # nested too deep for json
        st.just('{"type": "step", "steps": NaN}'),
    )
    return st.one_of(as_text, as_text, as_text, broken)


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_fuzzed_websocket_messages_get_clear_answers(fuzz_server, lab):
    client = WSClient(fuzz_server, lab.name)
    marker = iter(range(10**9))

    @settings(max_examples=BATCHES_PER_LAB, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(messages_for(lab), min_size=40, max_size=60))
    def batch(texts):
        for text in texts:
            client.send(text)
        SENT["messages"] += len(texts)
        # A marker the server can only answer once it has read everything before it.
        tag = f"sync-{next(marker)}"
        client.send({"type": tag})
        reply = client.wait_for(lambda m: m.get("type") == "error" and tag in m["message"],
                                timeout=120)
        assert "unknown message type" in reply["message"]
        bugs = [m for m in client.seen if m.get("type") == "error"
                and m["message"].startswith("internal error")]
        assert not bugs, bugs

    batch()
    # The same connection still configures and trains.
    client.send({"type": "pause"})
    configured = client.configure({})
    assert configured["lab"] == lab.name
    if lab.name in ("mlp", "perceptron", "descent", "cnn"):
        client.send({"type": "step", "steps": 2})
        assert client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] >= 2,
                               timeout=120)["step"] >= 2
    client.close()


def test_more_than_ten_thousand_messages_were_fuzzed(request):
    ran = [i for i in request.session.items if "websocket_messages" in i.name]
    if len(ran) < len(LABS):
        pytest.skip("run with the whole fuzz test")
    assert SENT["messages"] >= 10_000


def _operations():
    spec = create_app(Settings(workers=0)).openapi()
    return [result.ok() for result in schemathesis.openapi.from_dict(spec).get_all_operations()]


@pytest.mark.parametrize("operation", _operations(), ids=lambda op: f"{op.method.upper()} {op.path}")
def test_fuzzed_rest_calls_never_fail_with_a_server_error(operation, live_server):
    lab = operation.path.split("/")[2] if operation.path.count("/") > 2 else ""
    live = None
    if lab in {c.name for c in LABS}:  # a session of that lab, its page gone (it lives on)
        client = WSClient(live_server, lab)
        live = client.session
        client.close()

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), real=st.booleans())
    def call(case, real):
        # Half the calls name a live session of the right lab, so they reach its worker.
        if real and live and case.query and "session" in case.query:
            case.query["session"] = live
        case.call_and_validate(base_url=live_server, checks=[not_a_server_error])

    call()
