-- Leaky bucket as a meter (see algorithms/_leaky_meter.py): fields level, stamp.
ALG.leaky_meter = function(key, _, rate, capacity, now, cost, commit)
  local v = redis.call('HMGET', key, 'level', 'stamp')
  local level = tonumber(v[1]) or 0
  local stamp = tonumber(v[2]) or now
  if now > stamp then level = level - (now - stamp) * rate end
  if level < 0 then level = 0 end
  if level + cost <= capacity + EPSILON + rate * ROUNDING * math.abs(now) then
    level = level + cost
    if commit then
      redis.call('HSET', key, 'level', num(level), 'stamp', num(math.max(now, stamp)))
    end
    return true, nonneg(capacity - level), 0, level / rate, level / rate
  end
  local retry = INF
  if cost <= capacity + EPSILON then retry = (level + cost - capacity) / rate end
  return false, nonneg(capacity - level), retry, level / rate, 0
end
