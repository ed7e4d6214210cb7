-- verb: INCRMAX
-- keys: 1
-- args: 2
-- summary: Add increment to the integer at key unless the result would exceed max; replies the new value or nil.
-- syntax: key increment max
-- Returns the new value as a string (exact over int64); the proxy replies it as an integer.
local cur, err = get_string(KEYS[1])
if err then return err end
if cur and not is_int(cur) then
  return redis.error_reply('ERR value is not an integer or out of range')
end
local r = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(r) == 'table' and r.err then return r end
local new = redis.call('GET', KEYS[1])
if cmp_int(new, ARGV[2]) > 0 then
  if cur then
    redis.call('SET', KEYS[1], cur, 'KEEPTTL')
  else
    redis.call('DEL', KEYS[1])
  end
  return false
end
return new
