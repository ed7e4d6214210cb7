-- verb: LOCK
-- keys: 1
-- args: 2-5
-- summary: Acquire (or renew) a lease on key for token for ttl-ms; WAIT waits for it, FENCE returns a fencing token.
-- syntax: key token ttl-ms [WAIT timeout-ms] [FENCE]
-- KEYS: lock[, fencing counter]. ARGV (normalised by commands/lock.go): token, ttl-ms,
-- fence ('1' or '0'), report ('1': on failure return {0, pttl} so the proxy knows how long to wait).
local cur, err = get_string(KEYS[1])
if err then return err end
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if ARGV[3] == '1' then
    return redis.call('INCR', KEYS[2])
  end
  return 1
end
if ARGV[4] == '1' then
  return {0, redis.call('PTTL', KEYS[1])}
end
return 0
