"""Invocation, deployment and awakeable ids in Restate's formats; partition keys and ranges."""

from __future__ import annotations

import pytest

from restate import ids
from restate.ids import IdError, InvocationId

# captured from restate-server 1.7.12 (reference/captures.md): StartMessage.id and debug_id of one invocation
CAPTURED_BYTES = bytes.fromhex("2c4ae91c15fda27c9ef0be5c21dc858f8674958b1fe7293d")
CAPTURED_TEXT = "inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu"


def test_captured_invocation_id_both_ways() -> None:
    inv = InvocationId.from_bytes(CAPTURED_BYTES)
    assert str(inv) == CAPTURED_TEXT
    assert InvocationId.parse(CAPTURED_TEXT) == inv
    assert InvocationId.parse(CAPTURED_TEXT).to_bytes() == CAPTURED_BYTES
    assert inv.partition_key == int.from_bytes(CAPTURED_BYTES[:8], "big")
    assert inv.uuid == CAPTURED_BYTES[8:]


@pytest.mark.parametrize("pk", [0, 1, 61, 62, 2**32, 2**63, 2**64 - 1])
def test_invocation_id_round_trip(pk: int) -> None:
    for uuid in (b"\x00" * 16, b"\xff" * 16, bytes(range(16))):
        inv = InvocationId(pk, uuid)
        text = str(inv)
        assert text.startswith("inv_1") and len(text) == 38
        assert InvocationId.parse(text) == inv
        assert InvocationId.from_bytes(inv.to_bytes()) == inv
        assert len(inv.to_bytes()) == 24


def test_random_ids_round_trip_and_differ() -> None:
    a, b = InvocationId.new(), InvocationId.new()
    assert a != b
    assert InvocationId.parse(str(a)) == a
    assert InvocationId.new(partition_key=42).partition_key == 42


def test_same_partition_key_shares_the_printed_prefix() -> None:
    pk = ids.partition_key_for("k1")
    a, b = InvocationId.new(pk), InvocationId.new(pk)
    assert str(a)[:16] == str(b)[:16]
    assert str(a) != str(b)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("inv1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu", "bad format"),  # no '_'
        ("dp_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu", "bad format"),  # another kind of id
        ("inv_1aHra1Fzck", "bad format"),  # too short
        ("inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHvquX", "bad format"),  # too long
        ("inv_bogus", "unrecognized codec version"),  # observed ingress answer
        ("inv_2aHra1FzckAQ1RpGg2ak446ApSRp4tHvqu", "unrecognized codec version"),
        ("inv_", "unrecognized codec version"),
    ],
)
def test_parse_errors(text: str, reason: str) -> None:
    with pytest.raises(IdError) as exc:
        InvocationId.parse(text)
    assert str(exc.value) == reason


def test_parse_rejects_bad_characters_and_overflow() -> None:
    with pytest.raises(IdError):
        InvocationId.parse("inv_1aHra1FzckAQ1RpGg2ak446ApSRp4tHv-u")
    with pytest.raises(IdError):
        InvocationId.parse("inv_1" + "z" * 33)  # more than 64/128 bits
    with pytest.raises(IdError):
        InvocationId.from_bytes(b"\x00" * 23)


def test_awakeable_id_example_from_the_protocol_spec() -> None:
    """PROTOCOL.md 6.5: sign_1 + base64url(StartMessage.id ++ u32be(signal index))."""
    text = "sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ"
    inv, index = ids.parse_awakeable_id(text)
    assert index == 17
    raw = inv.to_bytes()
    assert raw.hex().startswith("605e5092") and raw.hex().endswith("0623")
    assert ids.awakeable_id(inv, 17) == text


def test_awakeable_id_example_from_the_http_api() -> None:
    inv, index = ids.parse_awakeable_id("sign_1Hi2oi1D8D4o3dZxlOqIDWtBOufldrX1ZAAAAEQ")
    assert (inv.partition_key, index) == (2174579511402434442, 17)


def test_awakeable_id_round_trip_and_legacy_prefix() -> None:
    inv = InvocationId.from_bytes(CAPTURED_BYTES)
    for index in (17, 18, 2**32 - 1):
        assert ids.parse_awakeable_id(ids.awakeable_id(inv, index)) == (inv, index)
    legacy = "prom_1" + ids.awakeable_id(inv, 3)[len("sign_1") :]
    assert ids.parse_awakeable_id(legacy) == (inv, 3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sign_bogus", "unrecognized codec version"),
        ("signbogus", "bad format"),
        ("inv_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYjAAAAEQ", "bad format"),
        ("sign_1YF5QknHzycWhYjPja2tC71yk6Rl4bwYj", "bad format"),  # too short
    ],
)
def test_awakeable_parse_errors(text: str, reason: str) -> None:
    with pytest.raises(IdError) as exc:
        ids.parse_awakeable_id(text)
    assert str(exc.value) == reason


def test_deployment_ids() -> None:
    new = ids.new_deployment_id()
    assert new.startswith("dp_1") and len(new) == 26
    assert ids.check_deployment_id(new) == new
    assert ids.check_deployment_id("dp_12PgsFJ82wRXepxIaMzIdLr") == "dp_12PgsFJ82wRXepxIaMzIdLr"
    with pytest.raises(IdError, match="bad format"):
        ids.check_deployment_id("garbage")
    with pytest.raises(IdError, match="bad format"):
        ids.check_deployment_id("dp_1short")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 64, 1024])
def test_partition_for_covers_0_to_n_minus_1_in_order(n: int) -> None:
    assert ids.partition_for(0, n) == 0
    assert ids.partition_for(2**64 - 1, n) == n - 1
    samples = sorted({0, 1, 2**64 - 1, *(i * (2**64 // 997) for i in range(997))})
    got = [ids.partition_for(pk, n) for pk in samples]
    assert got == sorted(got)  # monotonic: partition i owns one contiguous range
    assert set(got) <= set(range(n))
    for i in range(n):  # range boundaries: the first key of each range
        first = -(-(i << 64) // n)
        assert ids.partition_for(first, n) == i
        if first > 0:
            assert ids.partition_for(first - 1, n) == i - 1


def test_partition_key_of_object_keys_is_stable() -> None:
    assert ids.partition_key_for("k1") == ids.partition_key_for(b"k1")
    assert ids.partition_key_for("k1") != ids.partition_key_for("k2")
    assert 0 <= ids.partition_key_for("anything") < 2**64


def test_deterministic_ids() -> None:
    a = InvocationId.deterministic(7, "Counter", "k", "add", "idem")
    assert a == InvocationId.deterministic(7, "Counter", "k", "add", "idem")
    assert a.partition_key == 7 and len(a.uuid) == 16
    assert a != InvocationId.deterministic(7, "Counter", "k", "add", "other")
    assert a != InvocationId.deterministic(7, "Counter", "k", "get", "idem")
    # parts are separated, so shifting text between them changes the id
    assert InvocationId.deterministic(7, "ab", "c") != InvocationId.deterministic(7, "a", "bc")
