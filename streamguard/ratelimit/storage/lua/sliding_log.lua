-- Sliding-window log (see algorithms/_sliding_log.py): a sorted set of admissions scored by
-- time, members "seq:cost"; the hash keeps their total and the sequence number.
local function entry_cost(member)
  return tonumber(string.match(member, ':(.*)$'))
end

ALG.sliding_log = function(key, log, limit, window, now, cost, commit)
  local horizon = now - window
  local total = tonumber(redis.call('HGET', key, 'total')) or 0
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', num(horizon))
  for _, member in ipairs(gone) do total = total - entry_cost(member) end
  local left = redis.call('ZCARD', log) - #gone
  if left == 0 then total = 0 end
  if total + cost <= limit + EPSILON then
    if commit then
      if #gone > 0 then redis.call('ZREMRANGEBYSCORE', log, '-inf', num(horizon)) end
      local seq = redis.call('HINCRBY', key, 'seq', 1)
      redis.call('ZADD', log, num(now), seq .. ':' .. num(cost))
      redis.call('HSET', key, 'total', num(total + cost))
    end
    return true, nonneg(limit - total - cost), 0, window, window
  end
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  local reset = 0
  if newest[2] then reset = nonneg(tonumber(newest[2]) + window - now) end
  local retry = INF
  if cost <= limit + EPSILON then
    -- The oldest entries leave first; wait until enough of them have.
    local need = total + cost - limit - EPSILON
    local freed = 0
    local entries = redis.call('ZRANGEBYSCORE', log, '(' .. num(horizon), '+inf', 'WITHSCORES')
    retry = reset
    for i = 1, #entries, 2 do
      freed = freed + entry_cost(entries[i])
      if freed >= need then
        retry = tonumber(entries[i + 1]) + window - now
        break
      end
    end
  end
  return false, nonneg(limit - total), retry, reset, 0
end
