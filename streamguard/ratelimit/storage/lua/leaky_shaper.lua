-- Leaky bucket as a shaper (see algorithms/_leaky_shaper.py): field free, when the outflow
-- has carried everything admitted so far; field owe, set while a refused caller was promised
-- the slot at free (a late caller keeps it, up to capacity / rate seconds back).
ALG.leaky_shaper = function(key, _, rate, capacity, now, cost, commit)
  local free = tonumber(redis.call('HGET', key, 'free')) or now
  local interval = 1 / rate
  local slack = EPSILON * interval + ROUNDING * math.abs(now)
  if free <= now + slack and cost <= capacity + EPSILON then
    local start = now
    if free > now then
      start = free
    elseif redis.call('HEXISTS', key, 'owe') == 1 then
      start = math.max(free, now - capacity * interval)
    end
    local busy = nonneg(start + cost * interval - now)
    if commit then
      redis.call('HSET', key, 'free', num(start + cost * interval))
      if start >= now then redis.call('HDEL', key, 'owe') end
    end
    return true, nonneg(capacity - cost), 0, busy, busy
  end
  local busy = nonneg(free - now)
  local retry = INF
  if cost <= capacity + EPSILON then
    retry = busy
    if commit then redis.call('HSET', key, 'owe', '1') end
  end
  return false, nonneg(capacity - busy * rate), retry, busy, 0
end
