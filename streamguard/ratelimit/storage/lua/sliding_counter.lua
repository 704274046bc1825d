-- Sliding-window counter (see algorithms/_sliding_counter.py): fields index, current,
-- previous.
ALG.sliding_counter = function(key, _, limit, window, now, cost, commit)
  local v = redis.call('HMGET', key, 'index', 'current', 'previous')
  local index = window_index(now, window)
  local stored = tonumber(v[1])
  local previous, current = 0, 0
  if stored == index then
    current, previous = tonumber(v[2]) or 0, tonumber(v[3]) or 0
  elseif stored == index - 1 then
    previous = tonumber(v[2]) or 0
  end
  local start = index * window
  local estimate = previous * (1 - (now - start) / window) + current
  local slack = EPSILON + previous / window * ROUNDING * math.abs(now)
  if estimate + cost <= limit + slack then
    if commit then
      redis.call('HSET', key, 'index', num(index), 'current', num(current + cost),
                 'previous', num(previous))
    end
    local reset = start + 2 * window - now
    return true, nonneg(limit - estimate - cost), 0, reset, reset
  end
  local retry
  if cost > limit + EPSILON then
    retry = INF
  elseif current + cost <= limit + EPSILON then
    retry = start + (1 - (limit - current - cost) / previous) * window - now
  else
    retry = start + window + math.max(0, 1 - (limit - cost) / current) * window - now
  end
  local reset = start + window - now
  if current > 0 then reset = reset + window end
  return false, nonneg(limit - estimate), retry, reset, 0
end
