-- verb: RESERVE
-- keys: 2
-- args: 1-3
-- summary: If the integer at stock-key is at least n (default 1), decrement it by n and RPUSH item onto queue-key.
-- syntax: stock-key queue-key item [COUNT n]
-- ARGV (normalised by commands/reserve.go): item, n.
local stock, err = get_string(KEYS[1])
if err then return err end
stock = stock or '0'
if not is_int(stock) then
  return redis.error_reply('ERR value is not an integer or out of range')
end
local t = redis.call('TYPE', KEYS[2])['ok']
if t ~= 'none' and t ~= 'list' then
  return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
end
if cmp_int(stock, ARGV[2]) < 0 then return 0 end
redis.call('DECRBY', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
