// Package keyslot computes Redis Cluster hash slots.
package keyslot

import "bytes"

// HashTag returns the part of key that Redis Cluster hashes when the key
// has a hash tag ({...} with something inside), or nil.
func HashTag(key []byte) []byte {
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

// Slot is the cluster slot of key: CRC16 (XMODEM) of its hash tag, or of
// the whole key, modulo 16384.
func Slot(key []byte) int {
	if tag := HashTag(key); tag != nil {
		key = tag
	}
	return int(crc16(key) % 16384)
}

// SameSlot reports whether all keys hash to one slot.
func SameSlot(keys [][]byte) bool {
	for i := 1; i < len(keys); i++ {
		if Slot(keys[i]) != Slot(keys[0]) {
			return false
		}
	}
	return true
}

func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// crcTable is CRC16-XMODEM (polynomial 0x1021) for each byte value.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
