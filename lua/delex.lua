-- verb: DELEX
-- emulates: DELEX
-- keys: 1
-- args: 0-2
-- summary: Conditionally removes the specified key based on value or digest comparison.
-- syntax: key [IFEQ ifeq-value | IFNE ifne-value | IFDEQ ifdeq-digest | IFDNE ifdne-digest]
-- Redis 8.4's DELEX, for backends without it. ARGV (normalised by
-- commands/delex.go): condition ('', IFEQ, IFNE, or for digests SAME and
-- READ as in set.lua), comparand.
local key, cond, comparand = KEYS[1], ARGV[1], ARGV[2]
if cond == '' then return redis.call('DEL', key) end
local cur, err = get_string(key)
if err then return err end
if cond == 'READ' or (cond == 'SAME' and cur ~= comparand) then
  if cur then return {cur} end
  return {}
end
if not cur then return 0 end
if (cond == 'IFEQ' or cond == 'SAME') == (cur == comparand) then
  return redis.call('DEL', key)
end
return 0
