-- verb: HGETORSET
-- keys: 1
-- args: 2-*
-- summary: If key does not exist, create it as a hash with these fields; either way reply with the whole hash as HGETALL does.
-- syntax: key field value [field value ...]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
end
local all = redis.pcall('HGETALL', KEYS[1])
return all
