-- Token bucket (see algorithms/_token_bucket.py): fields tokens, stamp.
ALG.token_bucket = function(key, _, rate, burst, now, cost, commit)
  local v = redis.call('HMGET', key, 'tokens', 'stamp')
  local tokens = tonumber(v[1]) or burst
  local stamp = tonumber(v[2]) or now
  if now > stamp then tokens = tokens + (now - stamp) * rate end
  if tokens > burst then tokens = burst end
  if cost <= tokens + EPSILON + rate * ROUNDING * math.abs(now) then
    tokens = tokens - cost
    if commit then
      redis.call('HSET', key, 'tokens', num(tokens), 'stamp', num(math.max(now, stamp)))
    end
    return true, nonneg(tokens), 0, (burst - tokens) / rate, (burst - tokens) / rate
  end
  local retry = INF
  if cost <= burst + EPSILON then retry = (cost - tokens) / rate end
  return false, nonneg(tokens), retry, (burst - tokens) / rate, 0
end
