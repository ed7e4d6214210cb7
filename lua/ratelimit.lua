-- verb: RATELIMIT
-- keys: 1
-- args: 2-6
-- summary: Admit one request (or COST units) if at most limit units are admitted per period-ms (GCRA, SLIDING or FIXED).
-- syntax: key limit period-ms [COST n] [ALGO (GCRA | SLIDING | FIXED)]
-- ARGV (normalised by commands/ratelimit.go): limit, period-ms, cost, algorithm.
-- Reply: {allowed, remaining, retry-after-ms (-1 when allowed), reset-after-ms}.
-- Time is the backend's (TIME), in integer microseconds. A denied request
-- changes nothing.
local key = KEYS[1]
local limit, period_ms, cost, algo = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = now_us()
local period = period_ms * 1000
local function us(n) return string.format('%.0f', n) end
local function ms(n) return ceil_div(n, 1000) end

if algo == 'GCRA' then
  -- Each unit takes one emission interval of a bucket `limit` intervals
  -- deep. Rounding the interval up keeps the sustained rate at or below
  -- limit per period.
  local interval = ceil_div(period, limit)
  local depth = interval * limit
  local stored, err = get_string(key)
  if err then return err end
  local tat = tonumber(stored or '0') or 0
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  if new_tat - now > depth then
    return {0, math.floor((depth - (tat - now)) / interval), ms(new_tat - now - depth), ms(tat - now)}
  end
  redis.call('SET', key, us(new_tat), 'PX', ms(new_tat - now))
  return {1, math.floor((depth - (new_tat - now)) / interval), -1, ms(new_tat - now)}

elseif algo == 'SLIDING' then
  -- A log of admissions: one sorted-set member per unit, scored by time.
  local from = '(' .. us(now - period)
  local count = redis.call('ZCOUNT', key, from, '+inf')
  if count + cost > limit then
    local need = count + cost - limit
    local oldest = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', need - 1, 1)
    local newest = redis.call('ZREVRANGEBYSCORE', key, '+inf', from, 'WITHSCORES', 'LIMIT', 0, 1)
    return {0, math.max(limit - count, 0), ms(tonumber(oldest[2]) + period - now), ms(tonumber(newest[2]) + period - now)}
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - period))
  for i = 1, cost do
    redis.call('ZADD', key, us(now), us(now) .. ':' .. (count + i))
  end
  redis.call('PEXPIRE', key, period_ms)
  return {1, limit - count - cost, -1, period_ms}

else -- FIXED: windows of period-ms starting at the first request
  local stored, err = get_string(key)
  if err then return err end
  local used = tonumber(stored or '0') or 0
  local ttl = redis.call('PTTL', key)
  if stored == false or ttl < 0 then
    used, ttl = 0, period_ms
  end
  if used + cost > limit then
    return {0, limit - used, ttl, ttl}
  end
  if used == 0 then
    redis.call('SET', key, cost, 'PX', period_ms)
  else
    redis.call('INCRBY', key, cost)
  end
  return {1, limit - used - cost, -1, ttl}
end
