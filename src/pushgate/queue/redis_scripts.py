"""The Lua scripts of the Redis Streams queue: each queue operation is one atomic step.

Redis runs a script as one command: nothing else runs between its reads
and writes (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/),
so a job's hash, its stream entry, its sorted-set memberships and the depth
counter never disagree, and a client that dies mid-operation leaves either
all or none of it. The key layout is described in docs/scale-out.md §2.

Conventions shared by every script:

- ``ARGV[1]`` is the key prefix, ``ARGV[2]`` the caller's clock ("now",
  epoch seconds as a decimal string). Times are computed by the caller and
  stored as the strings it sent, so the injectable clock decides every
  lease and run-at and no precision is lost in Lua's number formatting.
- Scripts derive keys from the prefix (a job's hash from its id), so the
  queue needs one Redis primary, not a Redis Cluster (docs/scale-out.md §5).
- A finished job leaves the stream (``XACK`` + ``XDEL``) and both sorted
  sets, joins ``done:<queue>`` or ``failed:<queue>`` scored by the time it
  finished (purge and the dead-letter list read them), and its size leaves
  the ``depth`` counter.
"""

from __future__ import annotations

GROUP = "workers"  # the one consumer group of every stream

_PRELUDE = """
local P = ARGV[1]
local NOW = ARGV[2]
local GROUP = '""" + GROUP + """'
local function jkey(id) return P .. 'job:' .. id end
local function stream(q) return P .. 'ready:' .. q end

-- Drop the job's stream entry (ack it for whoever holds it, then delete it).
local function unlink(id, q)
  local entry = redis.call('HGET', jkey(id), 'entry')
  if entry then
    redis.call('XACK', stream(q), GROUP, entry)
    redis.call('XDEL', stream(q), entry)
    redis.call('HDEL', jkey(id), 'entry')
  end
end

-- A queued or leased job becomes done or failed.
local function finish(id, q, status, reason)
  local key = jkey(id)
  unlink(id, q)
  redis.call('ZREM', P .. 'delayed:' .. q, id)
  redis.call('ZREM', P .. 'leases:' .. q, id)
  redis.call('HSET', key, 'status', status, 'owner', '', 'updated', NOW)
  if reason then redis.call('HSET', key, 'error', reason) end
  redis.call('ZADD', P .. status .. ':' .. q, NOW, id)
  redis.call('HINCRBY', P .. 'depth', q, -tonumber(redis.call('HGET', key, 'size')))
end

local function active(status) return status == 'queued' or status == 'leased' end
"""

# ARGV[3..]: id, queue, payload (JSON), run-at, max_tries, size — six per job.
ENQUEUE = _PRELUDE + """
local new = 0
for i = 3, #ARGV, 6 do
  local id, q, due, size = ARGV[i], ARGV[i + 1], ARGV[i + 3], ARGV[i + 5]
  if redis.call('EXISTS', jkey(id)) == 0 then
    redis.call('HSET', jkey(id), 'queue', q, 'payload', ARGV[i + 2], 'status', 'queued',
      'run_at', due, 'due_at', due, 'attempts', 0, 'max_tries', ARGV[i + 4], 'size', size,
      'owner', '', 'created', NOW, 'updated', NOW)
    redis.call('ZADD', P .. 'delayed:' .. q, due, id)
    redis.call('HINCRBY', P .. 'depth', q, size)
    redis.call('SADD', P .. 'queues', q)
    new = new + 1
  end
end
return new
"""

# ARGV[3] lease expiry, ARGV[4] worker, ARGV[5] limit, ARGV[6] how many due jobs one
# claim moves from delayed:<q> into the stream, ARGV[7] the reason for a lease that
# expired on the last try, ARGV[8..] queue names.
# Returns, per claimed job: id, queue, payload, run_at, max_tries, size, attempt, previous holder.
CLAIM = _PRELUDE + """
local UNTIL, WORKER, LIMIT, PROMOTE, EXHAUSTED = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local candidates = {}
for a = 8, #ARGV do
  local q = ARGV[a]
  local s = stream(q)
  -- Due jobs enter the stream oldest run-at first.
  local due = redis.call('ZRANGEBYSCORE', P .. 'delayed:' .. q, '-inf', NOW, 'LIMIT', 0, PROMOTE)
  if #due > 0 then
    redis.pcall('XGROUP', 'CREATE', s, GROUP, '0', 'MKSTREAM')  -- BUSYGROUP once it exists
    for _, id in ipairs(due) do
      local entry = redis.call('XADD', s, '*', 'id', id)
      redis.call('HSET', jkey(id), 'entry', entry)
      redis.call('ZREM', P .. 'delayed:' .. q, id)
    end
  end
  -- Leases that ran out: the holder died or stalled.
  local expired = redis.call('ZRANGEBYSCORE', P .. 'leases:' .. q, '-inf', NOW,
    'WITHSCORES', 'LIMIT', 0, LIMIT)
  for i = 1, #expired, 2 do
    local id = expired[i]
    local got = redis.call('HMGET', jkey(id), 'attempts', 'max_tries')
    if tonumber(got[1]) >= tonumber(got[2]) then
      finish(id, q, 'failed', EXHAUSTED)
    else
      table.insert(candidates, {id = id, q = q, due = tonumber(expired[i + 1]), expired = true})
    end
  end
  -- New entries of the stream, delivered to this consumer only.
  if redis.call('EXISTS', s) == 1 then
    local read = redis.call('XREADGROUP', 'GROUP', GROUP, WORKER, 'COUNT', LIMIT, 'STREAMS', s, '>')
    if read then
      for _, item in ipairs(read[1][2]) do
        local entry, id = item[1], item[2][2]
        local got = redis.call('HMGET', jkey(id), 'status', 'entry', 'due_at')
        if got[1] == 'queued' and got[2] == entry then
          table.insert(candidates, {id = id, q = q, due = tonumber(got[3]), entry = entry})
        else  -- stale: the job finished or moved since this entry was written
          redis.call('XACK', s, GROUP, entry)
          redis.call('XDEL', s, entry)
        end
      end
    end
  end
end
for i, c in ipairs(candidates) do c.n = i end
table.sort(candidates, function(x, y) if x.due ~= y.due then return x.due < y.due end return x.n < y.n end)
local out = {}
for i, c in ipairs(candidates) do
  local key = jkey(c.id)
  if i > LIMIT then
    if c.entry then  -- read but over the limit: back to the delayed set, due as it was
      unlink(c.id, c.q)
      redis.call('ZADD', P .. 'delayed:' .. c.q, c.due, c.id)
    end
  else
    local prev = ''
    if c.expired then
      prev = redis.call('HGET', key, 'owner')
      local entry = redis.call('HGET', key, 'entry')
      if entry then redis.call('XCLAIM', stream(c.q), GROUP, WORKER, 0, entry, 'JUSTID') end
    end
    local attempt = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'status', 'leased', 'due_at', UNTIL, 'owner', WORKER, 'updated', NOW)
    redis.call('ZADD', P .. 'leases:' .. c.q, UNTIL, c.id)
    local job = redis.call('HMGET', key, 'payload', 'run_at', 'max_tries', 'size')
    for _, v in ipairs({c.id, c.q, job[1], job[2], job[3], job[4], attempt, prev}) do
      table.insert(out, v)
    end
  end
end
return out
"""

# ARGV[3..] job ids. Returns how many were still queued or leased.
COMPLETE = _PRELUDE + """
local n = 0
for i = 3, #ARGV do
  local got = redis.call('HMGET', jkey(ARGV[i]), 'status', 'queue')
  if active(got[1]) then
    finish(ARGV[i], got[2], 'done', nil)
    n = n + 1
  end
end
return n
"""

# ARGV[3] id, ARGV[4] reason, ARGV[5] when to run again. Returns the new status, or false.
RETRY = _PRELUDE + """
local id, reason, due = ARGV[3], ARGV[4], ARGV[5]
local got = redis.call('HMGET', jkey(id), 'status', 'queue', 'attempts', 'max_tries')
if not active(got[1]) then return false end
local q = got[2]
if tonumber(got[3]) >= tonumber(got[4]) then
  redis.call('HSET', jkey(id), 'due_at', due)  -- as the SQL queue records it
  finish(id, q, 'failed', reason)
  return 'failed'
end
unlink(id, q)
redis.call('ZREM', P .. 'leases:' .. q, id)
redis.call('HSET', jkey(id), 'status', 'queued', 'due_at', due, 'owner', '', 'error', reason, 'updated', NOW)
redis.call('ZADD', P .. 'delayed:' .. q, due, id)
return 'queued'
"""

# ARGV[3] id, ARGV[4] reason. Returns 1 if the job was active.
FAIL = _PRELUDE + """
local got = redis.call('HMGET', jkey(ARGV[3]), 'status', 'queue')
if not active(got[1]) then return 0 end
finish(ARGV[3], got[2], 'failed', ARGV[4])
return 1
"""

# ARGV[3] queue, ARGV[4] new run-at, ARGV[5] id prefix, ARGV[6] id suffix (literal text).
RESCHEDULE = _PRELUDE + """
local q, due, head, tail = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ids = redis.call('ZRANGEBYSCORE', P .. 'delayed:' .. q, '(' .. due, '+inf')
local n = 0
for _, id in ipairs(ids) do
  if string.sub(id, 1, #head) == head and (#tail == 0 or string.sub(id, -#tail) == tail) then
    redis.call('ZADD', P .. 'delayed:' .. q, due, id)
    redis.call('HSET', jkey(id), 'run_at', due, 'due_at', due, 'updated', NOW)
    n = n + 1
  end
end
return n
"""

# ARGV[3] lease expiry, ARGV[4] holder ('' for any), ARGV[5..] ids. Returns the ids still held.
EXTEND = _PRELUDE + """
local UNTIL, WORKER = ARGV[3], ARGV[4]
local held = {}
for i = 5, #ARGV do
  local got = redis.call('HMGET', jkey(ARGV[i]), 'status', 'owner', 'queue')
  if got[1] == 'leased' and (WORKER == '' or got[2] == WORKER) then
    redis.call('HSET', jkey(ARGV[i]), 'due_at', UNTIL, 'updated', NOW)
    redis.call('ZADD', P .. 'leases:' .. got[3], UNTIL, ARGV[i])
    table.insert(held, ARGV[i])
  end
end
return held
"""

# ARGV[3] run-at, ARGV[4..] ids. Returns how many dead letters were requeued.
REQUEUE_FAILED = _PRELUDE + """
local due = ARGV[3]
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local got = redis.call('HMGET', jkey(id), 'status', 'queue', 'size')
  if got[1] == 'failed' then
    redis.call('ZREM', P .. 'failed:' .. got[2], id)
    redis.call('HSET', jkey(id), 'status', 'queued', 'attempts', 0, 'run_at', due, 'due_at', due,
      'owner', '', 'updated', NOW)
    redis.call('ZADD', P .. 'delayed:' .. got[2], due, id)
    redis.call('HINCRBY', P .. 'depth', got[2], got[3])
    n = n + 1
  end
end
return n
"""

# ARGV[3] finished set ('done' or 'failed'), ARGV[4] queue, ARGV[5] purge before this
# time, ARGV[6] batch size. Returns how many were deleted (call again while it is a full batch).
PURGE = _PRELUDE + """
local set = P .. ARGV[3] .. ':' .. ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. ARGV[5], 'LIMIT', 0, ARGV[6])
for _, id in ipairs(ids) do
  redis.call('DEL', jkey(id))
  redis.call('ZREM', set, id)
end
return #ids
"""

__all__ = [
    "CLAIM", "COMPLETE", "ENQUEUE", "EXTEND", "FAIL", "GROUP", "PURGE", "REQUEUE_FAILED",
    "RESCHEDULE", "RETRY",
]
