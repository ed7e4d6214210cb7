package commands

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redverb/redverb/lua"
	"github.com/redverb/redverb/verb"
	luaparse "github.com/yuin/gopher-lua/parse"
)

// Registry holds the verbs: the built-ins, and the user's from a directory,
// which Reload rereads. It implements verb.Set.
type Registry struct {
	dir      string
	builtins map[string]*Verb
	verbs    atomic.Pointer[map[string]*Verb]
	reload   sync.Mutex
}

var _ verb.Set = (*Registry)(nil)

// NewRegistry loads the built-in verbs and, if dir is set, the user verbs
// in it. Bad user files are left out and reported in the error; the other
// verbs are in force either way.
func NewRegistry(dir string) (*Registry, error) {
	r := &Registry{dir: dir, builtins: Builtins()}
	verbs, errs := r.load()
	r.verbs.Store(&verbs)
	return r, errors.Join(errs...)
}

// Builtins parses the embedded scripts. A broken built-in is a bug in this
// program, so it panics.
func Builtins() map[string]*Verb {
	prelude, err := lua.Files.ReadFile("prelude.lua")
	if err != nil {
		panic(err)
	}
	verbs := map[string]*Verb{}
	files, _ := fs.Glob(lua.Files, "*.lua")
	for _, name := range files {
		if name == "prelude.lua" {
			continue
		}
		src, _ := lua.Files.ReadFile(name)
		v, err := ParseVerb(string(src), "builtin:"+name)
		if err != nil {
			panic(err)
		}
		v.setScript(string(prelude) + string(src))
		v.Compact = compactScript(string(prelude), string(src))
		v.Check = checkers[v.Name]
		register(verbs, v)
	}
	for name := range checkers {
		if verbs[name] == nil {
			panic("commands: checker for unknown verb " + name)
		}
	}
	return verbs
}

// register adds v, panicking on a duplicate as http.ServeMux does.
func register(verbs map[string]*Verb, v *Verb) {
	if verbs[v.Name] != nil {
		panic("commands: verb " + v.Name + " registered twice")
	}
	verbs[v.Name] = v
}

// load builds the full verb set from the built-ins and the directory.
func (r *Registry) load() (map[string]*Verb, []error) {
	verbs := make(map[string]*Verb, len(r.builtins))
	for name, v := range r.builtins {
		verbs[name] = v
	}
	if r.dir == "" {
		return verbs, nil
	}
	paths, err := filepath.Glob(filepath.Join(r.dir, "*.lua"))
	if err != nil {
		return verbs, []error{err}
	}
	if _, err := os.Stat(r.dir); err != nil {
		return verbs, []error{err}
	}
	sort.Strings(paths)
	var errs []error
	for _, path := range paths {
		v, err := loadFile(path)
		if err == nil && verbs[v.Name] != nil {
			err = fmt.Errorf("%s:1: verb %s is already defined by %s", path, v.Name, verbs[v.Name].Source)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		verbs[v.Name] = v
	}
	return verbs, errs
}

func loadFile(path string) (*Verb, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := ParseVerb(string(src), path)
	if err != nil {
		return nil, err
	}
	if _, err := luaparse.Parse(strings.NewReader(string(src)), path); err != nil {
		return nil, luaSyntaxError(path, string(src), err)
	}
	return v, nil
}

// luaSyntaxError puts the parser's line into the file:line: reason form. An
// error at the end of the file (an unclosed block) has no line of its own:
// it is reported on the last line.
func luaSyntaxError(path, src string, err error) error {
	line, msg := 1, err.Error()
	var perr *luaparse.Error
	if errors.As(err, &perr) {
		line, msg = perr.Pos.Line, perr.Message
		if line < 1 {
			line, msg = max(strings.Count(src, "\n"), 1), "unexpected end of file"
		}
	}
	return fmt.Errorf("%s:%d: Lua syntax error: %s", path, line, msg)
}

// Reload rereads the verbs directory. If any file is bad, nothing changes
// and the error names each bad file, line and reason.
func (r *Registry) Reload() error {
	r.reload.Lock()
	defer r.reload.Unlock()
	verbs, errs := r.load()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.verbs.Store(&verbs)
	return nil
}

// Verbs implements verb.Set.
func (r *Registry) Verbs() []verb.Verb {
	verbs := *r.verbs.Load()
	list := make([]verb.Verb, 0, len(verbs))
	for _, v := range verbs {
		list = append(list, v)
	}
	slices.SortFunc(list, func(a, b verb.Verb) int { return strings.Compare(a.(*Verb).Name, b.(*Verb).Name) })
	return list
}

// Resolve resolves a call of the verb name (lower case).
func (r *Registry) Resolve(name []byte, args [][]byte, mayWait bool) (*verb.Call, error) {
	v := (*r.verbs.Load())[string(name)]
	if v == nil {
		return nil, fmt.Errorf("unknown verb '%s'", args[0])
	}
	return v.Resolve(args, mayWait)
}

// Libraries implements verb.Set.
func (r *Registry) Libraries() []verb.Library {
	verbs := *r.verbs.Load()
	libs := make([]verb.Library, 0, len(verbs))
	for _, v := range verbs {
		libs = append(libs, verb.Library{Name: v.Function, Code: v.Library})
	}
	return libs
}
