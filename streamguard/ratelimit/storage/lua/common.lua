-- Shared by every rate-limit script. Times are seconds on the Redis server's clock (TIME),
-- counted from 2023-11-14 (1700000000) so that a double keeps sub-microsecond precision.
local EPSILON = 1e-9
-- Relative rounding of a clock reading: (now + 0.025) - now is not 0.025 at this magnitude,
-- so comparisons that subtract readings also tolerate a few ulps of now (see ROUNDING in
-- algorithms/_base.py).
local ROUNDING = 1e-15
local INF = math.huge
local EPOCH = 1700000000
local ALG = {}

local function server_now()
  local t = redis.call('TIME')
  return (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
end

-- tostring() keeps 14 digits; state must survive the round trip exactly.
local function num(x)
  if x == INF then return 'inf' end
  if x == -INF then return '-inf' end
  return string.format('%.17g', x)
end

local function nonneg(x)
  if x > 0 then return x end
  return 0
end

-- The aligned window holding now: k * width <= now < (k + 1) * width as computed here, so a
-- caller told to come back at (k + 1) * width finds the next window (see window_index).
local function window_index(now, width)
  local index = math.floor(now / width)
  if (index + 1) * width <= now then return index + 1 end
  if index * width > now then return index - 1 end
  return index
end
