-- verb: CL.THROTTLE
-- keys: 1
-- args: 3-4
-- summary: redis-cell compatible GCRA throttle: [limited, limit, remaining, retry-after-s, reset-after-s].
-- syntax: key max-burst count per-period-s [quantity]
-- ARGV (normalised by commands/throttle.go): max-burst, count, period-s, quantity.
-- Follows redis-cell's arithmetic: emission interval = period / count,
-- tolerance = interval * (max-burst + 1), durations reported in whole
-- seconds truncated. Time is the backend's, in integer microseconds.
local key = KEYS[1]
local burst, count, period, quantity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local interval = math.floor(period * 1000000 / count)
local tolerance = interval * (burst + 1)
local limit = burst + 1
local increment = interval * quantity
local now = now_us()
local stored, err = get_string(key)
if err then return err end
local tat = tonumber(stored or '') or now
local new_tat = math.max(tat, now) + increment
local diff = now - (new_tat - tolerance)
local limited, retry, ttl = 0, -1000000, 0
if diff < 0 then
  limited = 1
  if increment <= tolerance then retry = -diff end
  ttl = tat - now
else
  ttl = new_tat - now
  if ttl > 0 then
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', ceil_div(ttl, 1000))
  end
end
local remaining = 0
local next = tolerance - ttl
if next > -interval then
  remaining = math.floor(next / interval)
  if next < 0 then remaining = -math.floor(-next / interval) end
end
local function seconds(t) -- truncated toward zero, as redis-cell's Duration::num_seconds
  if t < 0 then return -math.floor(-t / 1000000) end
  return math.floor(t / 1000000)
end
return {limited, limit, remaining, seconds(retry), seconds(ttl)}
