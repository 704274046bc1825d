-- Leaky bucket as a shaper (see algorithms/_leaky_shaper.py): field free, when the outflow
-- has carried everything admitted so far.
ALG.leaky_shaper = function(key, _, rate, capacity, now, cost, commit)
  local free = tonumber(redis.call('HGET', key, 'free')) or now
  local interval = 1 / rate
  local slack = EPSILON * interval + ROUNDING * math.abs(now)
  if free <= now + slack and cost <= capacity + EPSILON then
    local start = math.max(free, now)
    local busy = start + cost * interval - now
    if commit then redis.call('HSET', key, 'free', num(start + cost * interval)) end
    return true, nonneg(capacity - cost), 0, busy, busy
  end
  local busy = nonneg(free - now)
  local retry = INF
  if cost <= capacity + EPSILON then retry = busy end
  return false, nonneg(capacity - busy * rate), retry, busy, 0
end
