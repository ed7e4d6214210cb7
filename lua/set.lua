-- verb: SET
-- emulates: SET IFEQ IFNE IFDEQ IFDNE
-- keys: 1
-- args: 1-*
-- summary: Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.
-- syntax: key value [NX | XX | IFEQ ifeq-value | IFNE ifne-value | IFDEQ ifdeq-digest | IFDNE ifdne-digest] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
-- Redis 8.4's SET with compare-and-set conditions, for backends without
-- them (calls without IFEQ/IFNE/IFDEQ/IFDNE go to the backend's own SET).
-- ARGV (normalised by commands/set.go): value, condition, comparand, get
-- ('1' or ''), then the expiry arguments for SET as given (EX 10, KEEPTTL).
-- Conditions: '' (none), NX, XX, IFEQ, IFNE, and two that commands/set.go
-- uses for digests, which a script cannot compute: SAME (the value is
-- still exactly the comparand) and ABSENT (the key is still missing); when
-- those fail, the reply is the key's state, {} if missing or {value}.
-- READ only replies with that state.
local key, value, cond, comparand = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local get = ARGV[4] == '1'
local found = redis.call('EXISTS', key) == 1
local old = false
if get or (cond ~= '' and cond ~= 'NX' and cond ~= 'XX') then
  local err
  old, err = get_string(key)
  if err then return err end
end
local function state()
  if found then return {old} end
  return {}
end
local ok = true
if cond == 'NX' then ok = not found
elseif cond == 'XX' then ok = found
elseif cond == 'IFEQ' then ok = found and old == comparand
elseif cond == 'IFNE' then ok = not found or old ~= comparand
elseif cond == 'SAME' then
  if not found or old ~= comparand then return state() end
elseif cond == 'ABSENT' then
  if found then return state() end
elseif cond == 'READ' then
  return state()
end
if ok then
  local set = {'SET', key, value}
  for i = 5, #ARGV do set[#set + 1] = ARGV[i] end
  redis.call(unpack(set))
end
if get then return old end
if ok then return redis.status_reply('OK') end
return false
