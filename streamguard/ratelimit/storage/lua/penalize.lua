-- Refuse everything for the next ARGV[1] seconds (a downstream's Retry-After), on every
-- state hash in KEYS; an earlier, longer penalty stays.
local now = server_now()
local until_ = now + tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local blocked = tonumber(redis.call('HGET', key, 'blk')) or -INF
  if until_ > blocked then
    redis.call('HSET', key, 'blk', num(until_))
    local ttl = redis.call('PTTL', key)
    local keep = math.ceil((until_ - now) * 1000) + 1000
    if ttl < keep then redis.call('PEXPIRE', key, keep) end
  end
end
return 'OK'
