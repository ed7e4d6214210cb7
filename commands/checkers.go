package commands

// checkers are the built-in verbs whose arguments need more than an arity
// check. Each lives in commands/<verb>.go beside its table-driven test.
var checkers = map[string]Checker{
	"cas":         checkCAS,
	"transfer":    checkTransfer,
	"lock":        checkLock,
	"renew":       checkRenew,
	"ratelimit":   checkRateLimit,
	"cl.throttle": checkThrottle,
	"incrmax":     checkIncrMax,
	"setifgt":     checkSetIf("setifgt"),
	"setiflt":     checkSetIf("setiflt"),
	"hincrmulti":  checkHIncrMulti,
	"hgetorset":   checkHGetOrSet,
	"reserve":     checkReserve,
	// Stand-ins for newer Redis and Valkey commands (see README).
	"set":     checkSet,
	"delex":   checkDelex,
	"digest":  checkDigest,
	"msetex":  checkMSetEx,
	"hgetdel": checkHGetDel,
}
