-- verb: HGETDEL
-- emulates: HGETDEL
-- keys: 1
-- args: 3-*
-- summary: Returns the value of a field and deletes it from the hash.
-- syntax: key FIELDS numfields field [field ...]
-- Redis 8.0's HGETDEL, for backends without it: each field's value (nil
-- if missing), deleting it as it is read, so a field named twice gives its
-- value then nil; the last field takes the key with it. ARGV (normalised
-- by commands/hgetdel.go): the fields.
local key = KEYS[1]
local t = redis.call('TYPE', key).ok
if t ~= 'hash' and t ~= 'none' then
  return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
end
local values = {}
for i = 1, #ARGV do
  values[i] = redis.call('HGET', key, ARGV[i])
  if values[i] then redis.call('HDEL', key, ARGV[i]) end
end
return values
