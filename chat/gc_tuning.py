"""Garbage-collector settings for a serving process: fewer full collections.

A full collection walks every container object the process tracks and holds the event
loop meanwhile: about 1 s per million objects here, and 5,000 open chats are about a
million. CPython's defaults start a young collection every 700 allocations, so
everything a message keeps alive for a few milliseconds (the commit window, its send
queue) is promoted to the oldest generation, dies there, and brings on the next full
collection: with the defaults, at 2,000 msgs/s over 5,000 chats, one every ~4 s, each
~1 s (docs/performance.md, "Garbage collection"). A larger young generation lets those
objects die young; objects built at start-up (modules, mappers, compiled statements)
live for the whole process, so they are frozen out of every collection.

One case the thresholds cannot cover: many sockets closing at once (a desk ending its
chats at the end of the day). See `socket_closed`.
"""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default: 700). A young collection
# walks that many objects and holds the loop meanwhile: at 50,000 it took 30-40 ms and
# its older sibling 75 ms, and they made the slowest offers at 100 arrivals a second;
# at 10,000, 11 and 24 ms (docs/performance.md, "Plans, collections and a desk with
# history"). Still 14 times fewer young collections than the default, which is what
# keeps full collections away at 5,000 open chats.
YOUNG_THRESHOLD = 10_000
# Young collections between middle ones (CPython's default: 10, so a middle collection
# comes in place of every twelfth young one; here every fourth). A middle collection
# walks everything the young ones promoted since the last: while 5,000 chats arrived,
# twelve young collections' worth took 35-100 ms, and the one left pending when the
# arrivals stopped came minutes later, in the middle of the messaging (young collections
# grow rare once the heap stops growing), with the arrivals' tail: 313 ms in one run.
# Every fourth, at most four a run reached 30 ms during the arrivals (30-45 ms), and
# one in the messaging walks about what a young one does (docs/performance.md,
# "Garbage collection at 5,000 open chats").
MIDDLE_THRESHOLD = 2
# Middle collections between the turns of a full one (CPython's default: 10; at its
# turn a full collection runs only if the heap grew by a quarter since the last). 32
# keeps the turns ~130 collections apart, as the defaults did (11 x 12; here 33 x 4):
# at 10, 5,000 arrivals brought three full collections instead of one (1.1 s in all,
# not 0.6).
OLD_THRESHOLD = 32


# Sockets closed between the young collections `socket_closed` runs.
SOCKETS_PER_YOUNG_COLLECTION = 100

_serving = False
_closed_since_collection = 0


def tune_for_serving() -> None:
    """Call once the application is built, before it takes connections."""
    global _serving
    gc.collect()
    gc.freeze()  # what exists now lives as long as the process: never walk it again
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    _serving = True


def socket_closed() -> None:
    """Count a closed socket; every `SOCKETS_PER_YOUNG_COLLECTION`th runs a young collection.

    CPython (3.11) starts a young collection when allocations *minus deallocations* reach
    the threshold, and freeing an old object counts. A socket that closes frees its
    connection's long-lived objects, so while thousands close, the count stays low and
    no young collection runs, however much short-lived garbage (each ending's database
    session is a reference cycle) piles up meanwhile. When the closing stops, one young
    collection walks it all: 0.6-0.9 s after 5,000 chats ended at once
    (docs/performance.md, "SQLite on the loop"). Collecting every hundred closes keeps
    each walk to a hundred endings' garbage, a few milliseconds."""
    global _closed_since_collection
    if not _serving:
        return  # tests and tools keep CPython's own schedule
    _closed_since_collection += 1
    if _closed_since_collection >= SOCKETS_PER_YOUNG_COLLECTION:
        _closed_since_collection = 0
        gc.collect(0)
