-- verb: SETIFLT
-- keys: 1
-- args: 1-3
-- summary: Set key to the number value only if the key is missing or value is numerically smaller than the current number.
-- ARGV (normalised by commands/setif.go): value, expiry mode ('', EX, PX), expiry amount.
local cur, err = get_string(KEYS[1])
if err then return err end
if cur then
  local c = compare_numbers(ARGV[1], cur)
  if c == nil then return redis.error_reply('ERR value is not a valid float') end
  if not (c < 0) then return 0 end
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
