"""Golden frames copied from docs/reference/captures.md (restate-server 1.7.12 <-> restate-sdk 1.3.0)."""

from __future__ import annotations


def h(text: str) -> bytes:
    """Hex dump as in the captures ("hdr | payload") to bytes."""
    return bytes.fromhex(text.replace("|", " "))


# -- control ----------------------------------------------------------------------------------
# Section 2, Greeter/greet, V6: id, debug_id, known_entries=1, partial_state, duration=3, random_seed.
START_GREET = h(
    "00 00 00 00 00 00 00 53 | 0a 18 2c 4a e9 1c 15 fd a2 7c 9e f0 be 5c 21 dc 85 8f 86 74 95 8b 1f e7"
    " 29 3d 12 26 69 6e 76 5f 31 61 48 72 61 31 46 7a 63 6b 41 51 31 52 70 47 67 32 61 6b 34 34 36 41 70"
    " 53 52 70 34 74 48 76 71 75 18 01 28 01 40 03 48 a5 9f 8d c4 e4 d5 a2 84 d4 01"
)
# Section 10, Counter/k1/add: eager state_map {count: 5}, key "k1", partial_state unset.
START_COUNTER = h(
    "00 00 00 00 00 00 00 60 | 0a 18 54 8a e3 cb a5 40 55 b3 fb 95 9d ca 62 2a 44 92 42 0b dc 9d 1b dd"
    " ca f2 12 26 69 6e 76 5f 31 66 6f 41 69 72 59 34 4b 4b 7a 69 37 6f 38 51 50 74 4c 73 63 64 74 37 64"
    " 45 48 48 64 68 61 33 7a 6c 18 01 22 0a 0a 05 63 6f 75 6e 74 12 01 35 32 02 6b 31 40 01 48 bf 8a 89"
    " be bb da cc ee 56"
)
# Section 7, second attempt: known_entries=2, retry_count=1, duration=107.
START_RETRY = h(
    "00 00 00 00 00 00 00 55 | 0a 18 48 1d c5 c6 33 3e e0 6a 6b 87 26 d3 d1 e1 1a 6d 4e b0 83 6c f5 c8"
    " 1f 29 12 26 69 6e 76 5f 31 39 61 54 47 79 55 78 6c 53 71 59 31 66 42 64 35 4f 71 35 43 63 6b 78 37"
    " 61 65 6b 64 67 52 50 4a 31 18 02 28 01 38 01 40 6b 48 a2 93 b2 cb 8d da ef ef 8d 01"
)
SUSPENSION_V6 = h("00 01 00 00 00 00 00 06 | 0a 01 01 12 01 01")
SUSPENSION_V7 = h("00 01 00 00 00 00 00 0a | 22 08 0a 01 01 12 01 01 28 01")
END = h("00 03 00 00 00 00 00 00 |")
PROPOSE_RUN_ACKED = h("00 05 80 00 00 00 00 06 | 08 01 72 02 34 32")  # V7, REQUESTED_ACK
PROPOSE_RUN_V6 = h("00 05 00 00 00 00 00 06 | 08 01 72 02 34 32")
PROPOSE_RUN_FAILURE = h(
    "00 05 00 00 00 00 00 1f | 08 01 7a 1b 08 f4 03 12 16 56 61 6c 75 65 45 72 72 6f 72 28 27 72 75 6e"
    " 20 62 6f 6f 6d 27 29"
)
PROPOSE_RUN_ACK = h("00 07 00 00 00 00 00 02 | 08 01")
AWAITING_ON = h("00 06 00 00 00 00 00 0a | 0a 08 0a 01 01 12 01 01 28 01")

# -- commands ---------------------------------------------------------------------------------
# Section 9, callee of OneWayCall: no headers, value = "sign_1..." JSON string.
INPUT_AWAKEABLE = h(
    "04 00 00 00 00 00 00 32 | 72 30 0a 2e 22 73 69 67 6e 5f 31 59 46 35 51 6b 6e 48 7a 79 63 57 68 59"
    " 6a 50 6a 61 32 74 43 37 31 79 6b 36 52 6c 34 62 77 59 6a 41 41 41 41 45 51 22"
)
OUTPUT_HELLO = h("04 01 00 00 00 00 00 12 | 72 10 0a 0e 22 48 65 6c 6c 6f 20 41 6c 69 63 65 21 22")
OUTPUT_EMPTY = h("04 01 00 00 00 00 00 02 | 72 00")
OUTPUT_CANCELLED = h("04 01 00 00 00 00 00 10 | 7a 0e 08 99 03 12 09 63 61 6e 63 65 6c 6c 65 64")
SLEEP = h("04 0c 00 00 00 00 00 09 | 08 8b fd 9a f5 9f 34 58 01")  # PROTOCOL.md section 5
SLEEP_2 = h("04 0c 00 00 00 00 00 09 | 08 e8 ad 95 f5 9f 34 58 01")  # captures section 3
RUN = h("04 11 00 00 00 00 00 0a | 58 01 62 06 64 6f 75 62 6c 65")
CALL = h(
    "04 0d 00 00 00 00 00 1b | 0a 07 47 72 65 65 74 65 72 12 05 67 72 65 65 74 1a 05 22 42 6f 62 22 50"
    " 01 58 02"
)
ONE_WAY_CALL = h(
    "04 0e 00 00 00 00 00 18 | 0a 07 47 72 65 65 74 65 72 12 05 67 72 65 65 74 1a 04 22 62 67 22 50 03"
)
COMPLETE_AWAKEABLE = h(
    "04 14 00 00 00 00 00 3d | 0a 2c 73 69 67 6e 5f 31 59 46 35 51 6b 6e 48 7a 79 63 57 68 59 6a 50 6a"
    " 61 32 74 43 37 31 79 6b 36 52 6c 34 62 77 59 6a 41 41 41 41 45 51 12 0d 0a 0b 22 72 65 73 6f 6c 76"
    " 65 64 21 22"
)
GET_EAGER_STATE = h("04 07 00 00 00 00 00 0c | 0a 05 63 6f 75 6e 74 72 03 0a 01 35")
SET_STATE = h("04 03 00 00 00 00 00 0d | 0a 05 63 6f 75 6e 74 1a 04 0a 02 31 32")

# -- notifications ----------------------------------------------------------------------------
SLEEP_COMPLETION = h("80 0c 00 00 00 00 00 04 | 08 01 22 00")
RUN_COMPLETION = h("80 11 00 00 00 00 00 08 | 08 01 2a 04 0a 02 34 32")
RUN_COMPLETION_FAILURE = h(
    "80 11 00 00 00 00 00 1f | 08 01 32 1b 08 f4 03 12 16 56 61 6c 75 65 45 72 72 6f 72 28 27 72 75 6e"
    " 20 62 6f 6f 6d 27 29"
)
CALL_INVOCATION_ID = h(
    "80 0e 00 00 00 00 00 2b | 08 01 82 01 26 69 6e 76 5f 31 62 4d 55 4a 7a 7a 41 50 47 64 52 30 34 59"
    " 42 55 6e 52 5a 52 68 46 68 47 6a 6b 57 75 6a 33 6a 56 66"
)
CALL_COMPLETION = h("80 0d 00 00 00 00 00 12 | 08 02 2a 0e 0a 0c 22 48 65 6c 6c 6f 20 42 6f 62 21 22")
SIGNAL_CANCEL = h("fb ff 00 00 00 00 00 04 | 10 01 22 00")
SIGNAL_AWAKEABLE = h("fb ff 00 00 00 00 00 11 | 10 11 2a 0d 0a 0b 22 72 65 73 6f 6c 76 65 64 21 22")

#: Every golden frame above, for stream-level tests.
ALL = [
    START_GREET,
    START_COUNTER,
    START_RETRY,
    SUSPENSION_V6,
    SUSPENSION_V7,
    END,
    PROPOSE_RUN_ACKED,
    PROPOSE_RUN_V6,
    PROPOSE_RUN_FAILURE,
    PROPOSE_RUN_ACK,
    AWAITING_ON,
    INPUT_AWAKEABLE,
    OUTPUT_HELLO,
    OUTPUT_EMPTY,
    OUTPUT_CANCELLED,
    SLEEP,
    SLEEP_2,
    RUN,
    CALL,
    ONE_WAY_CALL,
    COMPLETE_AWAKEABLE,
    GET_EAGER_STATE,
    SET_STATE,
    SLEEP_COMPLETION,
    RUN_COMPLETION,
    RUN_COMPLETION_FAILURE,
    CALL_INVOCATION_ID,
    CALL_COMPLETION,
    SIGNAL_CANCEL,
    SIGNAL_AWAKEABLE,
]
