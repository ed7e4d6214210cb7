package commands

import "bytes"

// hashTag returns the part of key Redis Cluster hashes when the key has a
// hash tag ({...}, non-empty), or nil.
func hashTag(key []byte) []byte {
	open := bytes.IndexByte(key, '{')
	if open < 0 {
		return nil
	}
	end := bytes.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return nil
	}
	return key[open+1 : open+1+end]
}
