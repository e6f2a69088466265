"""The sender workers' timings and sizes, in one place, with the reason for each."""

from __future__ import annotations

import uuid

# Outcomes are written in bulk: a write starts FLUSH_INTERVAL after the first
# unwritten outcome, or at once when FLUSH_EVERY are waiting; what arrives while
# it runs forms the next batch. Each device holds its window slot until its
# outcome is written (workers/window.py), so the wait here is in flight at a
# kill, and Little's law makes every millisecond of it cost window: 2 ms, where
# 10 ms held each device longer for the same CPU per delivery (bench scenario 4
# on a busy machine: 17,000 against 14,000 deliveries/s), and 50 ms let the
# windows grow to their maximum.
# Writing at once whenever a window is full kept even less in flight but cost
# about twice the CPU per delivery in tiny transactions.
FLUSH_EVERY = 100
FLUSH_INTERVAL = 0.002
# A failed outcome write (database restarting) is retried after this long.
FLUSH_RETRY_SECONDS = 0.5

# The in-flight window of an app's delivery lane in a process (workers/window.py),
# shared by its jobs: devices handed to the provider whose outcome is not
# durable yet, which is all a kill -9 can re-send. It starts at WINDOW_INITIAL
# (or where the last window of that app and provider left it), never goes below
# WINDOW_MIN nor above worker_concurrency, and follows GAIN x rate x base hold
# (BBR uses a cwnd gain of 2; 1.5 keeps less in flight and still grows while
# throughput does). Rate and base hold are the highest round rate and the
# lowest round mean hold of the last WINDOW_BASE_SECONDS; a quarter-size probe
# round every WINDOW_PROBE_SECONDS refreshes the hold.
WINDOW_INITIAL = 16
WINDOW_MIN = 8
WINDOW_GAIN = 1.5
WINDOW_BASE_SECONDS = 1.0
WINDOW_PROBE_SECONDS = 0.5

# An idle worker polls the queue with a backoff from IDLE_MIN to IDLE_MAX
# seconds; in-process enqueues (the API, fan-out) wake it at once.
IDLE_MIN = 0.01
IDLE_MAX = 0.5

# Where the queue can tell cheaply whether a claim would find work (the SQL
# queue: a read of its claim index), a worker whose ordinary slots are all busy
# (a broadcast) looks for jobs only its reserved slots may take (login codes,
# event batches, fan-outs) every RESERVED_LOOK, and an idle worker for any job
# after the backoff above, up to IDLE_LOOK rather than IDLE_MAX between looks
# (a full claim still follows every IDLE_MAX): sent through another process,
# they wake nobody here (workers/sender.py). Each look wakes the process: at
# 0.1 s an idle pushgate serve spends about 0.2% of a core more than without.
# On PostgreSQL, while the queue's listener is up (queue/sql_notify.py), other
# processes' jobs wake the workers themselves: no looks then, and a claim every
# IDLE_MAX for what time makes due (scheduled jobs, backoffs, expired leases).
RESERVED_LOOK = 0.01
IDLE_LOOK = 0.1

# A claim that fails (database restarting or not migrated yet) is tried
# again after 1 s, doubling up to 30 s, so an outage is not a log flood.
CLAIM_ERROR_MIN = 1.0
CLAIM_ERROR_MAX = 30.0

# Delivery jobs run at once per worker: enough to keep the provider
# connections busy while one job's tail and its outcome writes finish.
MIN_JOBS = 2
MAX_JOBS = 16
# ... and slots only fan-out, event, topic and direct-lane jobs may take, so a
# login code is not queued behind running broadcast jobs until one finishes
# (bench scenario 9: with two slots taken by a broadcast, a direct send waited
# for a slot for its fan-out and again for its delivery).
RESERVED_JOBS = 2
# ... and slots only direct-lane deliveries may take, on top of those: a stream of
# login codes (bench scenario 9: 33 a second, each job 35 ms at the median and
# over 100 ms at p90 during a broadcast on a busy 2-core machine) keeps two
# reserved slots busy, and the next one then waited for a broadcast job to end
# (a quarter of a second). Such jobs are a device or a few: a slot costs a task.
DIRECT_JOBS = 8

# A direct-lane job of at most this many devices (a login code: one or a few) is
# read by the thread that claimed it, before the claim returns: one hand-off to
# a thread less on its way to the provider. Larger ones read in their own task,
# so that one claim does not hold back the other jobs it returns.
PRELOAD_DEVICES = 16

# Retries of temporary failures (429, 5xx, connection loss), when the
# provider gave no Retry-After: 1 s, 2 s, 4 s … capped at 5 minutes.
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 300.0
# Retries (and, apart, deliveries given up after their last try) are logged at most once
# per provider in this many seconds; the jobs in between are summed up in the next line
# (workers/retry_log.py).
RETRY_LOG_INTERVAL_SECONDS = 10.0
# A job that failed for an internal reason (database error) runs again after this.
JOB_ERROR_RETRY_SECONDS = 5.0

# How often a worker re-reads credentials (a PUT of new ones takes effect
# within this) and the recorded pauses (an unpause wakes deferred jobs).
CREDENTIALS_RECHECK_SECONDS = 2.0
PAUSE_POLL_SECONDS = 2.0

# Graceful shutdown: in-flight jobs get this long to finish before their
# leases are handed back to the queue.
DRAIN_SECONDS = 30.0

# Finished jobs are kept (idempotent enqueue) for an hour, then purged.
PURGE_EVERY_SECONDS = 300.0
KEEP_DONE_SECONDS = 3600.0

# Message ids: uuid5 of "<send id>:<device id>" in this namespace, so a
# delivery has the same id (APNs apns-id) on every retry and after a crash.
DELIVERY_NAMESPACE = uuid.UUID("4f7c1d5e-2a8b-5c3d-9e6f-70a1b2c3d4e5")

# Reasons the workers write themselves (providers' reasons are kept verbatim).
REASON_NO_CREDENTIALS = "NoCredentials"
REASON_EXPIRED = "Expired"
REASON_INTERNAL = "InternalError"
# A Web Push refusal (401/403) from a push service that accepted the app's current VAPID
# credentials: the subscription's own binding to another key (RFC 8292 §4.2), settled for
# that device alone (docs/protocols/webpush.md §6).
REASON_KEY_MISMATCH = "VapidKeyMismatch"
