-- Shared helpers for the built-in verbs. Lua numbers are doubles, exact only
-- to 2^53, so integers are compared as decimal strings and added with Redis's
-- own INCRBY/DECRBY, which are exact over int64 and report overflow.

-- is_int reports whether s is an integer as Redis writes one (no sign '+',
-- no leading zeros) that fits in a signed 64-bit integer.
local function is_int(s)
  if type(s) ~= 'string' or not (s == '0' or string.find(s, '^%-?[1-9]%d*$')) then
    return false
  end
  local digits = string.gsub(s, '^%-', '')
  if #digits < 19 then return true end
  if #digits > 19 then return false end
  if string.sub(s, 1, 1) == '-' then return digits <= '9223372036854775808' end
  return digits <= '9223372036854775807'
end

-- cmp_int compares two integers given as canonical decimal strings:
-- -1, 0 or 1.
local function cmp_int(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na and -1 or 1 end
  local r
  if #a ~= #b then
    r = (#a < #b) and -1 or 1
  elseif a == b then
    return 0
  else
    r = (a < b) and -1 or 1
  end
  if na then r = -r end
  return r
end

-- get_string returns the string at key, false when missing, or the error
-- reply (WRONGTYPE) to return unchanged.
local function get_string(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then return nil, v end
  return v
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function ceil_div(a, b)
  return math.floor((a + b - 1) / b)
end

-- compare_numbers compares two numbers given as strings (integers or
-- decimals): -1, 0, 1, or nil if either is not a number. Integers are
-- compared exactly.
local function compare_numbers(a, b)
  if is_int(a) and is_int(b) then return cmp_int(a, b) end
  local x, y = tonumber(a), tonumber(b)
  if x == nil or y == nil or x ~= x or y ~= y then return nil end
  if x < y then return -1 elseif x > y then return 1 end
  return 0
end

-- set_if_number implements SETIFGT (want = 1) and SETIFLT (want = -1):
-- set KEYS[1] to the number ARGV[1] if the key is missing or the new number
-- compares to the current one as want says. ARGV[2], ARGV[3]: expiry mode
-- ('', EX, PX) and amount.
local function set_if_number(want)
  local cur, err = get_string(KEYS[1])
  if err then return err end
  if cur then
    local c = compare_numbers(ARGV[1], cur)
    if c == nil then return redis.error_reply('ERR value is not a valid float') end
    if c ~= want then return 0 end
  end
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
  else
    redis.call('SET', KEYS[1], ARGV[1])
  end
  return 1
end

