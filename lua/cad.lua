-- verb: CAD
-- keys: 1
-- args: 1
-- summary: Delete key only if its value equals expected.
-- syntax: key expected
local cur, err = get_string(KEYS[1])
if err then return err end
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
