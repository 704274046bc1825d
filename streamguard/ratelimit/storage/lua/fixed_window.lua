-- Fixed window (see algorithms/_fixed_window.py): fields index, count.
ALG.fixed_window = function(key, _, limit, window, now, cost, commit)
  local v = redis.call('HMGET', key, 'index', 'count')
  local index = window_index(now, window)
  local count = 0
  if tonumber(v[1]) == index then count = tonumber(v[2]) or 0 end
  local reset = (index + 1) * window - now
  if count + cost <= limit + EPSILON then
    if commit then redis.call('HSET', key, 'index', num(index), 'count', num(count + cost)) end
    return true, nonneg(limit - count - cost), 0, reset, reset
  end
  local retry = INF
  if cost <= limit + EPSILON then retry = reset end
  return false, nonneg(limit - count), retry, reset, 0
end
