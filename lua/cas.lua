-- verb: CAS
-- keys: 1
-- args: 2-4
-- summary: Set key to new only if its current value equals expected; like SET, clears the TTL unless EX, PX or KEEPTTL.
-- syntax: key expected new [EX seconds | PX milliseconds | KEEPTTL]
-- ARGV (normalised by commands/cas.go): expected, new, expiry mode ('', EX, PX, KEEPTTL), expiry amount.
local cur, err = get_string(KEYS[1])
if err then return err end
if cur ~= ARGV[1] then return 0 end
local mode = ARGV[3]
if mode == 'EX' or mode == 'PX' then
  redis.call('SET', KEYS[1], ARGV[2], mode, ARGV[4])
elseif mode == 'KEEPTTL' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
