-- One circuit breaker's state, shared by every process that names it: one atomic script per
-- call, on the Redis server's clock (TIME), so processes with different clocks agree on when
-- an open state ends. The rules are resilience4j's, as in _breaker.py; the client passes the
-- config with every call, so the script keeps nothing but state.
--
-- KEYS[1] hash   state, epoch, until (ms), open_for (ms), reopens, successes, win, why, cfg
--                (the config string of the processes that share it: see ARGV[8])
-- KEYS[2] hash   time window: "<second>:c|f|s" -> calls, failures, slow calls of that second
-- KEYS[3] zset   probe leases: member = owner, score = lease end (ms); at most
--                half_open_probes members, so a half-open cycle admits that many probes
--                across all processes (a lease is SET NX PX with a bounded count).
--
-- ARGV: op ('sync' | 'record' | 'set'), owner, epoch the outcomes belong to (-1: a process
-- that has not heard the state yet, whose outcomes count in the current one), outcomes
-- ('0' ok, '1' failed, '2' slow, '3' failed and slow, 'r' a probe given back unjudged),
-- claim ('1': take a probe lease if one is free), target state (op 'set'), jitter factor
-- (1 - jitter * random), and the config in one '|'-separated string (one argument, so the
-- client encodes it once): failure_rate_threshold, slow_call_rate_threshold, measure ('1'
-- if slow calls count), window ('count' | 'time'), window_size, minimum_calls,
-- open_duration_ms, open_duration_multiplier, max_open_duration_ms, half_open_probes,
-- half_open_successes, probe_timeout_ms, idle_ttl_ms, and slow_call_duration_ms (the script
-- does not read it; it is there so that the string is the whole config the state depends on).
-- The first call stores that string with the state; a call with another one changes nothing
-- and gets {'CONFLICT', stored}: one window judged by two sets of rules would open at a
-- threshold that depends on who called last, so the client refuses to share it (loudly).
--
-- Returns {state, epoch, open_remaining_ms, open_for_ms, reopens, holds_lease, calls, failures,
-- slow, why}.

local key, wkey, pkey = KEYS[1], KEYS[2], KEYS[3]
local op, owner, epoch_in, outcomes, claim, target = ARGV[1], ARGV[2], tonumber(ARGV[3]),
  ARGV[4], ARGV[5], ARGV[6]
local jitter = tonumber(ARGV[7])
local c = {}
for part in string.gmatch(ARGV[8], '[^|]+') do c[#c + 1] = part end
local threshold, slow_threshold, measure = tonumber(c[1]), tonumber(c[2]), c[3] == '1'
local window, size, minimum = c[4], tonumber(c[5]), tonumber(c[6])
local open_ms, multiplier, max_open_ms = tonumber(c[7]), tonumber(c[8]), tonumber(c[9])
local probes, need = tonumber(c[10]), tonumber(c[11])
local probe_ms, ttl_ms = tonumber(c[12]), tonumber(c[13])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local s = redis.call('HMGET', key, 'state', 'epoch', 'until', 'open_for', 'reopens',
                     'successes', 'win', 'why', 'cfg')
if s[9] and s[9] ~= ARGV[8] then
  return {'CONFLICT', s[9]}
end
local state = s[1] or 'CLOSED'
local epoch = tonumber(s[2]) or 0
local open_until = tonumber(s[3]) or 0
local open_for = tonumber(s[4]) or 0
local reopens = tonumber(s[5]) or 0
local successes = tonumber(s[6]) or 0
local win = s[7] or ''
local why = s[8] or 'no shared state in Redis yet (new, expired or restarted)'
local calls, failures, slow = 0, 0, 0

local function count(pattern)
  local _, n = string.gsub(win, pattern, '')
  return n
end

local function transition(to, reason)
  state = to
  epoch = epoch + 1
  why = reason
  successes = 0
  win = ''
  redis.call('DEL', wkey, pkey)
end

local function open(reason)
  local base = open_ms
  if reopens > 0 and multiplier > 1 then
    base = math.min(max_open_ms, base * multiplier ^ reopens)
  end
  open_for = math.floor(base * jitter)
  open_until = now + open_for
  transition('OPEN', reason)
end

-- Time moves OPEN to HALF_OPEN; a lease that ran out without a result is a failed probe.
local function catch_up()
  if state == 'OPEN' and now >= open_until then
    transition('HALF_OPEN', string.format('open for %.3g s', open_for / 1000))
  end
  if state == 'HALF_OPEN' then
    local lost = redis.call('ZRANGEBYSCORE', pkey, '-inf', now)
    if #lost > 0 then
      reopens = reopens + 1
      open(string.format('probe gave no result within %.3g s', probe_ms / 1000))
    end
  end
end

local function time_window(batch)
  local second = math.floor(now / 1000)
  if #batch > 0 then
    local _, f = string.gsub(batch, '[13]', '')
    local _, sl = string.gsub(batch, '[23]', '')
    redis.call('HINCRBY', wkey, second .. ':c', #batch)
    if f > 0 then redis.call('HINCRBY', wkey, second .. ':f', f) end
    if sl > 0 then redis.call('HINCRBY', wkey, second .. ':s', sl) end
  end
  local fields = redis.call('HGETALL', wkey)
  local old = {}
  for i = 1, #fields, 2 do
    local name, value = fields[i], tonumber(fields[i + 1])
    local sec, kind = string.match(name, '^(%-?%d+):(%a)$')
    if tonumber(sec) <= second - size then
      old[#old + 1] = name
    elseif kind == 'c' then calls = calls + value
    elseif kind == 'f' then failures = failures + value
    else slow = slow + value end
  end
  if #old > 0 then redis.call('HDEL', wkey, unpack(old)) end
end

local function record_closed(batch)
  if window == 'count' then
    win = string.sub(win .. batch, -size)
    calls, failures, slow = #win, count('[13]'), count('[23]')
  else
    time_window(batch)
  end
  if calls >= minimum then
    if failures / calls >= threshold then
      open(string.format('failure rate %d%% >= %d%% over %d calls',
                         math.floor(100 * failures / calls), math.floor(100 * threshold), calls))
    elseif measure and slow / calls >= slow_threshold then
      open(string.format('slow call rate %d%% >= %d%% over %d calls',
                         math.floor(100 * slow / calls), math.floor(100 * slow_threshold), calls))
    end
  end
end

local function record_half_open(batch)
  if redis.call('ZSCORE', pkey, owner) == false then
    return  -- not a probe of this cycle: its lease ran out, or it never had one
  end
  -- An owner holds one lease, so one probe: its first outcome is the verdict.
  local verdict = string.sub(batch, 1, 1)
  redis.call('ZREM', pkey, owner)
  if verdict == 'r' then
    return  -- given back without a verdict: the lease is free for the next caller
  elseif verdict ~= '0' then
    reopens = reopens + 1
    open(verdict == '2' and 'probe was slow' or 'probe failed')
  else
    successes = successes + 1
    if successes >= need then
      reopens = 0
      transition('CLOSED', string.format('%d probe(s) succeeded', need))
    end
  end
end

catch_up()
if op == 'set' then
  reopens = 0
  transition(target, 'set by hand in one process')
elseif op == 'record' and (epoch_in == epoch or epoch_in < 0) and #outcomes > 0 then
  if state == 'CLOSED' then
    record_closed((string.gsub(outcomes, 'r', '')))
  elseif state == 'HALF_OPEN' then
    record_half_open(outcomes)
  end
end

local holds = 0
if state == 'HALF_OPEN' then
  if redis.call('ZSCORE', pkey, owner) ~= false then
    holds = 1
  elseif claim == '1' and redis.call('ZCARD', pkey) < probes then
    redis.call('ZADD', pkey, now + probe_ms, owner)
    holds = 1
  end
elseif state == 'CLOSED' and window == 'count' then
  calls, failures, slow = #win, count('[13]'), count('[23]')
end

redis.call('HSET', key, 'state', state, 'epoch', epoch, 'until', open_until,
           'open_for', open_for, 'reopens', reopens, 'successes', successes, 'win', win,
           'why', why, 'cfg', ARGV[8])
redis.call('PEXPIRE', key, ttl_ms)
if redis.call('EXISTS', wkey) == 1 then redis.call('PEXPIRE', wkey, ttl_ms) end
if redis.call('EXISTS', pkey) == 1 then redis.call('PEXPIRE', pkey, ttl_ms) end
local remaining = 0
if state == 'OPEN' then remaining = math.max(0, open_until - now) end
return {state, epoch, remaining, open_for, reopens, holds, calls, failures, slow, why}
