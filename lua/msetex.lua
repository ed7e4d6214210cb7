-- verb: MSETEX
-- emulates: MSETEX
-- keys: 0
-- args: 3-*
-- summary: Atomically sets multiple string keys with a shared expiration in a single operation. Supports flexible argument parsing where condition and expiration flags can appear in any order.
-- syntax: numkeys key value [key value ...] [NX | XX] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
-- Redis 8.4's MSETEX, for backends without it: 1 if every key was set, 0
-- if none was (NX: some key exists; XX: some key is missing). KEYS: the
-- keys. ARGV (normalised by commands/msetex.go): condition ('', NX, XX),
-- then the values, then the expiry arguments for SET as given.
local cond, n = ARGV[1], #KEYS
if cond ~= '' then
  for i = 1, n do
    local exists = redis.call('EXISTS', KEYS[i]) == 1
    if exists == (cond == 'NX') then return 0 end
  end
end
for i = 1, n do
  local set = {'SET', KEYS[i], ARGV[1 + i]}
  for j = n + 2, #ARGV do set[#set + 1] = ARGV[j] end
  redis.call(unpack(set))
end
return 1
