package proxy

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redverb/redverb/internal/keyslot"
	"github.com/redverb/redverb/internal/resp"
)

// keyTable knows where each command's keys are, from the backend's own
// COMMAND reply (key specs), so that module and newer commands route to
// the right cluster node without a hand-kept list.
type keyTable struct {
	cmds atomic.Pointer[map[string]*cmdKeys] // by lower-case name; subcommands as "name|sub"

	mu       sync.Mutex // held while loading
	loadedAt time.Time
}

// cmdKeys is one command's entry.
type cmdKeys struct {
	specs    []keySpec
	readonly bool
	write    bool // flag write (or may_replicate, which newer servers show): CLIENT PAUSE WRITE holds it
	subs     bool // a container command: look its subcommand up instead
}

// keySpec is one of Redis's key specs: where the search for keys begins and
// how keys are found from there.
type keySpec struct {
	keyword   string // begin_search keyword; "" for index
	index     int    // begin_search index, or the keyword's startfrom
	keynum    bool   // find_keys keynum; else range
	lastkey   int    // range
	keystep   int    // range and keynum
	limit     int    // range
	keynumidx int    // keynum
	firstkey  int    // keynum
}

// slotOf is the cluster slot of key.
func slotOf(key []byte) int { return keyslot.Slot(key) }

func (b *Backend) commandKeys() map[string]*cmdKeys { return b.keys.load(b) }

// load returns the backend's commands by lower-case name (subcommands as
// "name|sub"), reading COMMAND on first use; nil while the backend is
// unreachable (asked again after a second).
func (t *keyTable) load(b *Backend) map[string]*cmdKeys {
	if table := t.cmds.Load(); table != nil {
		return *table
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cmds.Load() == nil && time.Since(t.loadedAt) > time.Second {
		t.loadedAt = time.Now()
		if cmds := b.loadCommandTable(); cmds != nil {
			t.cmds.Store(&cmds)
		}
	}
	if table := t.cmds.Load(); table != nil {
		return *table
	}
	return nil
}

// firstKey returns the index in args of the command's first key, or -1.
func (ck *cmdKeys) firstKey(args [][]byte) int {
	if ck == nil {
		return -1
	}
	argc := len(args)
	for _, sp := range ck.specs {
		first := sp.index
		if sp.keyword != "" {
			first = -1
			start, end, step := sp.index, argc-1, 1
			if sp.index < 0 {
				start, end, step = argc+sp.index, 1, -1
			}
			for i := start; i >= 1 && i < argc && (step > 0 && i <= end || step < 0 && i >= end); i += step {
				if bytes.EqualFold(args[i], []byte(sp.keyword)) {
					first = i + 1
					break
				}
			}
		}
		if first <= 0 || first >= argc {
			continue
		}
		if sp.keynum {
			n, err := strconv.Atoi(string(args[min(first+sp.keynumidx, argc-1)]))
			if err != nil || n <= 0 || first+sp.firstkey >= argc {
				continue
			}
			return first + sp.firstkey
		}
		return first
	}
	return -1
}

// loadCommandTable asks a master for COMMAND and reads the key specs.
func (b *Backend) loadCommandTable() map[string]*cmdKeys {
	n, err := b.master(-1)
	if err != nil {
		return nil
	}
	reply, err := n.outOfBand(connKey{db: 0, proto: 2}, []byte("COMMAND"))
	if err != nil || resp.IsError(reply) {
		return nil
	}
	cmds := map[string]*cmdKeys{}
	for _, entry := range resp.SplitArray(reply) {
		addCommand(cmds, entry)
	}
	return cmds
}

// addCommand reads one entry of COMMAND's reply: name, arity, flags,
// first key, last key, step, ACL categories, tips, key specs, subcommands.
func addCommand(cmds map[string]*cmdKeys, entry []byte) {
	f := resp.SplitArray(entry)
	if len(f) < 6 {
		return
	}
	name := string(lowerName(nil, resp.Text(f[0])))
	ck := &cmdKeys{}
	for _, flag := range resp.SplitArray(f[2]) {
		switch string(resp.Text(flag)) {
		case "readonly":
			ck.readonly = true
		case "write", "may_replicate":
			ck.write = true
		}
	}
	if len(f) >= 9 {
		for _, spec := range resp.SplitArray(f[8]) {
			if sp, ok := parseKeySpec(spec); ok {
				ck.specs = append(ck.specs, sp)
			}
		}
	}
	if len(ck.specs) == 0 {
		// Before key specs (Redis < 7): first key, last key and step.
		if first := intBody(f[3]); first > 0 {
			ck.specs = []keySpec{{index: first, lastkey: 0, keystep: 1}}
		}
	}
	if len(f) >= 10 {
		for _, sub := range resp.SplitArray(f[9]) {
			ck.subs = true
			addCommand(cmds, sub)
		}
	}
	cmds[name] = ck
}

// parseKeySpec reads one key spec (a flat field/value array in RESP2).
func parseKeySpec(raw []byte) (keySpec, bool) {
	var sp keySpec
	fields := fieldMap(raw)
	begin, find := fieldMap(fields["begin_search"]), fieldMap(fields["find_keys"])
	bspec, fspec := fieldMap(begin["spec"]), fieldMap(find["spec"])
	switch string(resp.Text(begin["type"])) {
	case "index":
		sp.index = intBody(bspec["index"])
	case "keyword":
		sp.keyword = string(resp.Text(bspec["keyword"]))
		sp.index = intBody(bspec["startfrom"])
	default:
		return sp, false
	}
	switch string(resp.Text(find["type"])) {
	case "range":
		sp.lastkey, sp.keystep, sp.limit = intBody(fspec["lastkey"]), intBody(fspec["keystep"]), intBody(fspec["limit"])
	case "keynum":
		sp.keynum = true
		sp.keynumidx, sp.firstkey, sp.keystep = intBody(fspec["keynumidx"]), intBody(fspec["firstkey"]), intBody(fspec["keystep"])
	default:
		return sp, false
	}
	return sp, true
}

// fieldMap reads a flat array of bulk-string names and raw values.
func fieldMap(raw []byte) map[string][]byte {
	elems := resp.SplitArray(raw)
	m := make(map[string][]byte, len(elems)/2)
	for i := 0; i+1 < len(elems); i += 2 {
		m[string(resp.Text(elems[i]))] = elems[i+1]
	}
	return m
}

// intBody reads a raw integer reply; 0 if it is not one.
func intBody(raw []byte) int {
	if len(raw) < 4 || raw[0] != ':' {
		return 0
	}
	n, _ := strconv.Atoi(string(raw[1 : len(raw)-2]))
	return n
}
