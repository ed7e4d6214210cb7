-- verb: RENEW
-- keys: 1
-- args: 2
-- summary: Extend the lease to ttl-ms from now if token holds it.
-- syntax: key token ttl-ms
local cur, err = get_string(KEYS[1])
if err then return err end
if cur ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
