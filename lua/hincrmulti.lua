-- verb: HINCRMULTI
-- keys: 1
-- args: 2-*
-- summary: Increment several hash fields by integers at once; replies the new values in argument order.
-- syntax: key field increment [field increment ...]
-- All or nothing: if one increment fails (not an integer, overflow), the
-- fields already incremented are put back. Returns the new values as strings
-- (exact over int64); the proxy replies them as integers.
local key = KEYS[1]
local existed = redis.call('EXISTS', key) == 1
local original, results = {}, {}
local function undo()
  for field, old in pairs(original) do
    if old then redis.call('HSET', key, field, old) else redis.call('HDEL', key, field) end
  end
  if not existed then redis.call('DEL', key) end
end
for i = 1, #ARGV, 2 do
  local field = ARGV[i]
  if original[field] == nil then
    local old = redis.pcall('HGET', key, field)
    if type(old) == 'table' and old.err then return old end
    original[field] = old
  end
  local r = redis.pcall('HINCRBY', key, field, ARGV[i + 1])
  if type(r) == 'table' and r.err then
    undo()
    return r
  end
  results[#results + 1] = redis.call('HGET', key, field)
end
return results
