-- GCRA (see algorithms/_gcra.py): field tat, the theoretical arrival time.
ALG.gcra = function(key, _, rate, burst, now, cost, commit)
  local tat = tonumber(redis.call('HGET', key, 'tat')) or now
  if tat < now then tat = now end
  local interval = 1 / rate
  local tau = burst * interval
  local new_tat = tat + cost * interval
  local ahead = new_tat - now
  if ahead <= tau + EPSILON * interval + ROUNDING * math.abs(now) then
    if commit then redis.call('HSET', key, 'tat', num(new_tat)) end
    return true, nonneg(burst - ahead * rate), 0, ahead, ahead
  end
  local retry = INF
  if cost <= burst + EPSILON then retry = ahead - tau end
  return false, nonneg(burst - (tat - now) * rate), retry, tat - now, 0
end
