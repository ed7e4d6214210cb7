-- verb: DIGEST
-- emulates: DIGEST
-- keys: 1
-- args: 0
-- flags: readonly
-- summary: Returns the XXH3 hash of a string value.
-- syntax: key
-- Redis 8.4's DIGEST, for backends without it: the script reads the value
-- and commands/digest.go hashes it (XXH3-64, 16 lower-case hex digits).
local cur, err = get_string(KEYS[1])
if err then return err end
return cur
