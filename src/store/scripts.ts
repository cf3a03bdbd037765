// Lua for every multi-key state change, so each runs atomically in Redis (and on one Cluster slot).
// Versions and statuses: a record starts with them, in either form it is kept in
// (src/store/record-codec.ts): compact `\x01N,status\x1f…` or JSON `{"v":N,"id":"…","status":"…"`,
// so scripts compare them without decoding it.

// KEYS[first] is the locks hash. With no lock at all (the usual case) the caller passes no index
// keys and the answer is "unlocked"; when locks exist but the index keys were not passed, the
// script answers 'need_locks' and the caller repeats the call with all 15 index keys.
const LOCKED = `
local function locked(first, now)
  if #KEYS < first or redis.call('HLEN', KEYS[first]) == 0 then return false end
  if #KEYS == first then return 'need_locks' end
  for i = first + 1, #KEYS do
    if redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') > 0 then return true end
  end
  return false
end
`

// A record's version and status, read where encodeRecord puts them, and whether its status is one
// of those a change may leave: ',a,b,' (the lifecycle's from-states) or '' (any).
const STATUS = `
local function version(rec)
  return string.match(rec, '^\\1(%d+),') or string.match(rec, '^{"v":(%d+),')
end
local function status(rec)
  return string.match(rec, '^\\1%d+,([%a_]+)\\31') or string.match(rec, '^{"v":%d+,"id":"[^"]*","status":"([%a_]+)"')
end
local function allowed(rec, from)
  if from == '' then return true end
  local s = status(rec)
  return s ~= nil and string.find(from, ',' .. s .. ',', 1, true) ~= nil
end
`

/** KEYS: session, deadlines, created, pending, locks[, lock index x15]. ARGV: json, id, deadline, pxat, created, now, pending. */
export const CREATE_SESSION = `${LOCKED}
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
local l = locked(5, ARGV[6])
if l == 'need_locks' then return l elseif l then return 'locked' end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
if ARGV[7] == '1' then redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2]) end
return 'ok'
`

/**
 * KEYS: session, deadlines, pending[, locks[, lock index x15]]. ARGV: expectedV, json, id,
 * deadline|'' (final), pxat, now, pending, from-states (',a,b,' or '').
 */
export const CAS_SESSION = `${LOCKED}${STATUS}
local cur = redis.call('GET', KEYS[1])
if not cur then return 'missing' end
if version(cur) ~= ARGV[1] then return 'conflict' end
if not allowed(cur, ARGV[8]) then return 'refused' end
local l = locked(4, ARGV[6])
if l == 'need_locks' then return l elseif l then return 'locked' end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[5])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[3])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
if ARGV[7] == '1' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) else redis.call('ZREM', KEYS[3], ARGV[3]) end
return 'ok'
`

/** KEYS: session, locks[, lock index x15]. ARGV: now. Returns {record|nil, 0 | 1 locked | 2 need index keys}. */
export const INTROSPECT = `${LOCKED}
local rec = redis.call('GET', KEYS[1])
local l = locked(2, ARGV[1])
if l == 'need_locks' then return {rec, 2} end
return {rec, l and 1 or 0}
`

/** KEYS: session, action mark. ARGV: pxat. 1 when the session is active and its action was not used yet. */
export const USE_ACTION = `${STATUS}
local rec = redis.call('GET', KEYS[1])
if not rec then return 0 end
local s = status(rec)
if s == nil and string.byte(rec, 1) == 123 then s = cjson.decode(rec).status end
if s ~= 'active' then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PXAT', ARGV[1]) then return 1 end
return 0
`

/** KEYS: locks, lock index. ARGV: id, json, score. */
export const PUT_LOCK = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 'ok'
`

/** KEYS: locks, lock index. ARGV: id. */
export const DELETE_LOCK = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return nil end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return cur
`

/** Session ids per change message at most (the store's publishChange and APPEND_AUDIT). */
export const PUBLISH_IDS = 500

/**
 * Appends audit events and creates or changes the sessions they record, all or nothing.
 * KEYS: head, stream, deadlines, created, pending, locks, then per created session its key, then
 * per updated session its key (each followed by its 15 lock index keys when ARGV[6] is '1').
 * ARGV: expected "seq:hash" or '' (new chain), next "seq:hash", head ttl ms, event count, create
 * count, lock keys passed '1'|'0', now, update count, the events, then 6 per create: json, id,
 * deadline, pxat, created, pending '1'|'0'; then 8 per update: expected version, record (or
 * '=status': the stored record with version + 1 and this status), id,
 * deadline|'' (final), pxat, pending '1'|'0', from-states (',a,b,' or ''), check locks '1'|'0'
 * (creates always are checked); last, the change feed's
 * pub/sub channel: the ids of the sessions created are published there (space-separated,
 * PUBLISH_IDS a message), in the same round trip. PUBLISH, not SPUBLISH: on Cluster a script may
 * publish on any channel and every node relays it to its subscribers.
 * Returns 'ok', 'conflict', 'need_locks' (locks exist: call again with the index keys), or a flat
 * list of refused writes {index, 'exists'|'locked'|'missing'|'conflict'|'refused', ...} (updates
 * numbered after the creates); only 'ok' wrote anything.
 */
export const APPEND_AUDIT = `${STATUS}
local head = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if head then return 'conflict' end
elseif head ~= ARGV[1] then
  return 'conflict'
end
local nev, nses, now, nupd = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[7], tonumber(ARGV[8])
local ukey, uarg = 0, 9 + nev + nses * 6
local wantLocks = nses > 0
for i = 0, nupd - 1 do
  if ARGV[uarg + i * 8 + 7] == '1' then wantLocks = true end
end
local checkLocks = wantLocks and redis.call('HLEN', KEYS[6]) > 0
if checkLocks and ARGV[6] ~= '1' then return 'need_locks' end
local stride = ARGV[6] == '1' and 16 or 1
ukey = 7 + nses * stride
local function lockedAt(k)
  for j = k + 1, k + 15 do
    if redis.call('ZCOUNT', KEYS[j], '(' .. now, '+inf') > 0 then return true end
  end
  return false
end
local refused = {}
for i = 0, nses - 1 do
  local k = 7 + i * stride
  if redis.call('EXISTS', KEYS[k]) == 1 then
    refused[#refused + 1] = i
    refused[#refused + 1] = 'exists'
  elseif checkLocks and lockedAt(k) then
    refused[#refused + 1] = i
    refused[#refused + 1] = 'locked'
  end
end
local curs = {}
for i = 0, nupd - 1 do
  local k, a = ukey + i * stride, uarg + i * 8
  local cur = redis.call('GET', KEYS[k])
  local why = nil
  if not cur then why = 'missing'
  elseif version(cur) ~= ARGV[a] then why = 'conflict'
  elseif not allowed(cur, ARGV[a + 6]) then why = 'refused'
  elseif checkLocks and ARGV[a + 7] == '1' and lockedAt(k) then why = 'locked'
  elseif string.byte(ARGV[a + 1], 1) == 61 then
    -- The head to rewrite in place: \\1N,status or {"v":N,"id":"…","status":"…"
    local _, e = string.find(cur, '^\\1%d+,[%a_]+')
    if e then
      curs[i] = {true, string.sub(cur, e + 1)}
    else
      _, e = string.find(cur, '^{"v":%d+,"id":"[^"]*","status":"[%a_]+"')
      if e then curs[i] = {false, string.sub(cur, e + 1)} else why = 'refused' end
    end
  end
  if why then
    refused[#refused + 1] = nses + i
    refused[#refused + 1] = why
  end
end
if #refused > 0 then return refused end
for i = 0, nses - 1 do
  local k, a = 7 + i * stride, 9 + nev + i * 6
  redis.call('SET', KEYS[k], ARGV[a], 'PXAT', ARGV[a + 3])
  redis.call('ZADD', KEYS[3], ARGV[a + 2], ARGV[a + 1])
  redis.call('ZADD', KEYS[4], ARGV[a + 4], ARGV[a + 1])
  if ARGV[a + 5] == '1' then redis.call('ZADD', KEYS[5], ARGV[a + 2], ARGV[a + 1]) end
end
for i = 0, nupd - 1 do
  local k, a = ukey + i * stride, uarg + i * 8
  local rec = ARGV[a + 1]
  local c = curs[i]
  if c then
    -- '=status': the stored record with its version and status replaced (the rest is unchanged).
    local v, s = tonumber(ARGV[a]) + 1, string.sub(rec, 2)
    if c[1] then
      rec = '\\1' .. v .. ',' .. s .. c[2]
    else
      rec = '{"v":' .. v .. ',"id":"' .. ARGV[a + 2] .. '","status":"' .. s .. '"' .. c[2]
    end
  end
  redis.call('SET', KEYS[k], rec, 'PXAT', ARGV[a + 4])
  if ARGV[a + 3] == '' then redis.call('ZREM', KEYS[3], ARGV[a + 2]) else redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 2]) end
  if ARGV[a + 5] == '1' then redis.call('ZADD', KEYS[5], ARGV[a + 3], ARGV[a + 2]) else redis.call('ZREM', KEYS[5], ARGV[a + 2]) end
end
for i = 9, 8 + nev do redis.call('XADD', KEYS[2], '*', 'e', ARGV[i]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
for first = 0, nses - 1, ${PUBLISH_IDS} do
  local ids = {}
  for i = first, math.min(first + ${PUBLISH_IDS - 1}, nses - 1) do ids[#ids + 1] = ARGV[10 + nev + i * 6] end
  redis.call('PUBLISH', ARGV[#ARGV], table.concat(ids, ' '))
end
return 'ok'
`

/**
 * KEYS: deadlines, pending, created, then the session key of each id. ARGV: now, until, the ids.
 * Claims the ids still due (their deadline score moves to `until`, hiding them from other claims;
 * any write to the session replaces it) and returns {dropped, id, record, id, record...}; an id
 * whose record is gone is removed from every index and counted as dropped.
 */
export const CLAIM_DUE = `
local out = {0}
for i = 3, #ARGV do
  local id = ARGV[i]
  local due = redis.call('ZSCORE', KEYS[1], id)
  if due and tonumber(due) <= tonumber(ARGV[1]) then
    local rec = redis.call('GET', KEYS[i + 1])
    if rec then
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      out[#out + 1] = id
      out[#out + 1] = rec
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZREM', KEYS[3], id)
      out[1] = out[1] + 1
    end
  end
end
return out
`

/** KEYS: lease. ARGV: owner, ttl ms. */
export const ACQUIRE_LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

/**
 * KEYS: counter. ARGV: window ms, block size. Fixed window: takes a block of tokens from the shared
 * counter and returns {count after, ttl ms}; the caller may spend max(0, min(block, max - before)).
 */
export const RATE_LIMIT = `
local current = redis.call('INCRBY', KEYS[1], ARGV[2])
if current == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) return {current, tonumber(ARGV[1])} end
return {current, redis.call('PTTL', KEYS[1])}
`
