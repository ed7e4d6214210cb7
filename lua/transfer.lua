-- verb: TRANSFER
-- keys: 2
-- args: 1-4
-- summary: Move amount from source to destination if source holds at least amount; ONCE records the outcome in a receipt key.
-- syntax: source destination amount [ONCE receipt-key seconds]
-- KEYS: source, destination[, receipt]. ARGV (normalised by commands/transfer.go): amount[, receipt seconds].
local src, dst, amount = KEYS[1], KEYS[2], ARGV[1]
local receipt = KEYS[3]
-- The receipt names the transfer it records, length-prefixed so that no two
-- different transfers share a signature.
local signature = #src .. ':' .. src .. #dst .. ':' .. dst .. amount
if receipt then
  local seen, err = get_string(receipt)
  if err then return err end
  if seen then
    if string.sub(seen, 3) ~= signature then
      return redis.error_reply('ERR receipt key was used for a different transfer')
    end
    return tonumber(string.sub(seen, 1, 1))
  end
end
local balances = {}
for i, key in ipairs({src, dst}) do
  local v, err = get_string(key)
  if err then return err end
  v = v or '0'
  if not is_int(v) then return redis.error_reply('ERR balance is not an integer') end
  balances[i] = v
end
local moved = 0
if cmp_int(balances[1], amount) >= 0 then
  if src ~= dst then
    -- Credit first: an overflowing credit fails before anything changed.
    local r = redis.pcall('INCRBY', dst, amount)
    if type(r) == 'table' and r.err then return r end
    redis.call('DECRBY', src, amount)
  end
  moved = 1
end
if receipt then
  redis.call('SET', receipt, moved .. '|' .. signature, 'EX', ARGV[2])
end
return moved
