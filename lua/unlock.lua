-- verb: UNLOCK
-- keys: 1
-- args: 1
-- summary: Release the lock if token holds it, and wake proxies waiting for it.
-- syntax: key token
local cur, err = get_string(KEYS[1])
if err then return err end
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', 'redverb:lock-released', KEYS[1])
return 1
