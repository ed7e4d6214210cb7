-- verb: DELIFEQ
-- emulates: DELIFEQ
-- keys: 1
-- args: 1
-- summary: Delete key if value matches string.
-- syntax: key value
-- Valkey 9.0's DELIFEQ, for backends without it: 1 if the key held
-- exactly value and was deleted, else 0; WRONGTYPE for a non-string.
local cur, err = get_string(KEYS[1])
if err then return err end
if cur and cur == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
