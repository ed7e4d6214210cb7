-- verb: HGETDEL
-- emulates: HGETDEL
-- keys: 1
-- args: 3-*
-- summary: Returns the value of a field and deletes it from the hash.
-- syntax: key FIELDS numfields field [field ...]
-- Redis 8.0's HGETDEL, for backends without it: the fields' values (nil
-- for a missing one), then the fields are deleted, and the key with the
-- last of them. ARGV (normalised by commands/hgetdel.go): the fields.
local key = KEYS[1]
local t = redis.call('TYPE', key).ok
if t ~= 'hash' and t ~= 'none' then
  return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
end
local values = {}
for i = 1, #ARGV do
  values[i] = redis.call('HGET', key, ARGV[i])
end
if t == 'hash' then
  for i = 1, #ARGV do redis.call('HDEL', key, ARGV[i]) end
end
return values
