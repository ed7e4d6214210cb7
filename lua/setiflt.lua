-- verb: SETIFLT
-- keys: 1
-- args: 1-3
-- summary: Set key to the number value only if the key is missing or value is numerically smaller than the current number.
-- syntax: key value [EX seconds | PX milliseconds]
-- ARGV (normalised by commands/setif.go): value, expiry mode ('', EX, PX), expiry amount.
return set_if_number(-1)
