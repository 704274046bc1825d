-- One atomic decision over n tiers, on the server's clock.
-- KEYS: per tier, its state hash and its log (sorted set, used by sliding_log only).
-- ARGV: cost, then per tier: kind, param1, param2.
-- Every tier is checked first; only if all allow is the cost committed to all of them, so a
-- refusal by one tier consumes nothing from the others. A tier's penalty (field blk, set by
-- penalize.lua) refuses everything until it ends.
-- Returns per tier: allowed (1/0), remaining, retry_after, reset_after, as strings.
local now = server_now()
local cost = tonumber(ARGV[1])
local n = #KEYS / 2
local out = {}
local all = true
for i = 1, n do
  local key, log = KEYS[2 * i - 1], KEYS[2 * i]
  local kind = ARGV[3 * i - 1]
  local p1, p2 = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local blocked = tonumber(redis.call('HGET', key, 'blk')) or -INF
  local allowed, remaining, retry, reset, idle = ALG[kind](key, log, p1, p2, now, cost,
                                                             n == 1 and now >= blocked)
  if now < blocked then
    allowed = false
    retry = math.max(retry, blocked - now)
    reset = math.max(reset, blocked - now)
  end
  if not allowed then all = false end
  if n == 1 and allowed then
    local keep = math.ceil(math.max(idle, blocked - now) * 1000) + 1000
    redis.call('PEXPIRE', key, keep)
    if kind == 'sliding_log' then redis.call('PEXPIRE', log, keep) end
  end
  out[4 * i - 3] = allowed and '1' or '0'
  out[4 * i - 2] = num(remaining)
  out[4 * i - 1] = num(retry)
  out[4 * i] = num(reset)
end
if n > 1 and all then
  for i = 1, n do
    local key, log = KEYS[2 * i - 1], KEYS[2 * i]
    local kind = ARGV[3 * i - 1]
    local p1, p2 = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
    local blocked = tonumber(redis.call('HGET', key, 'blk')) or -INF
    local _, remaining, _, reset, idle = ALG[kind](key, log, p1, p2, now, cost, true)
    local keep = math.ceil(math.max(idle, blocked - now) * 1000) + 1000
    redis.call('PEXPIRE', key, keep)
    if kind == 'sliding_log' then redis.call('PEXPIRE', log, keep) end
    out[4 * i - 2] = num(remaining)
    out[4 * i] = num(reset)
  end
end
return out
