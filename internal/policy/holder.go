package policy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/terminology"
)

// Holder keeps the policy set in force, with the value sets it was resolved
// against, and swaps it on reload. Calls in flight keep the set they started
// with (an atomic pointer swap), so a reload never fails or delays them; an
// invalid change, to a policy file or to a value set file, is rejected and
// the running set kept.
type Holder struct {
	path     string
	vsDir    string
	cur      atomic.Pointer[Set]
	mu       sync.Mutex // serialises reloads
	log      *slog.Logger
	onReload func(result string)
}

// NewHolder loads the policy at path (a file or a folder) with the shipped
// value sets; an empty path holds the embedded default policy. onReload,
// when set, is told "ok" or "rejected" after every reload attempt.
func NewHolder(path string, logger *slog.Logger, onReload func(result string)) (*Holder, error) {
	return NewHolderWithValueSets(path, "", logger, onReload)
}

// NewHolderWithValueSets is NewHolder with an operator's value set folder:
// its *.json ValueSet files add to the shipped value sets or replace them by
// URL (see terminology.Load). Changes to either path are reloaded together.
func NewHolderWithValueSets(path, valueSetDir string, logger *slog.Logger, onReload func(result string)) (*Holder, error) {
	h := &Holder{path: path, vsDir: valueSetDir, log: logger, onReload: onReload}
	set, err := h.load()
	if err != nil {
		return nil, err
	}
	h.cur.Store(set)
	return h, nil
}

// load reads the value sets, then the policies resolved against them.
func (h *Holder) load() (*Set, error) {
	reg, err := terminology.Load(h.vsDir)
	if err != nil {
		return nil, fmt.Errorf("value sets: %w", err)
	}
	if h.path == "" {
		// A value set folder that empties or drops a set the default policy
		// names is an error, not a silently weaker policy.
		p, err := parse("default.yaml", nil, defaultYAML, reg)
		if err != nil {
			return nil, err
		}
		return newSet(p, nil, reg)
	}
	return LoadWith(h.path, reg)
}

// Current returns the set in force.
func (h *Holder) Current() *Set { return h.cur.Load() }

// Path returns the policy path ("" for the embedded default).
func (h *Holder) Path() string { return h.path }

// ValueSetDir returns the operator's value set folder ("" for none).
func (h *Holder) ValueSetDir() string { return h.vsDir }

// Reload reads the value set folder and the policy path again. On error the
// running set stays and the error says why.
func (h *Holder) Reload() error {
	if h.path == "" && h.vsDir == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	set, err := h.load()
	if err != nil {
		h.log.Error("policy reload rejected; keeping the running policy", slog.String("reason", err.Error()))
		h.report("rejected")
		return err
	}
	h.cur.Store(set)
	var ids []string
	for _, p := range set.Policies() {
		ids = append(ids, p.ID)
	}
	h.log.Info("policy reloaded", slog.Any("policies", ids), slog.Int("value_sets", len(set.ValueSets().Sets())))
	h.report("ok")
	return nil
}

func (h *Holder) report(result string) {
	if h.onReload != nil {
		h.onReload(result)
	}
}

// Watch reloads when the policy file or folder, or a file in the value set
// folder, changes, until ctx ends. Bursts of events (editors write in
// several steps) are collapsed into one reload after a short quiet period.
func (h *Holder) Watch(ctx context.Context) error {
	if h.path == "" && h.vsDir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy: %w", err)
	}
	// relevant reports whether an event concerns a watched path: the policy
	// file itself when the policy path is a file (its folder is watched,
	// since editors and config maps replace files by rename), anything in a
	// watched folder otherwise.
	var policyFile string
	var dirs []string
	if h.path != "" {
		dir := h.path
		if fi, err := os.Stat(h.path); err == nil && !fi.IsDir() {
			dir = filepath.Dir(h.path)
			policyFile = filepath.Clean(h.path)
		}
		dirs = append(dirs, dir)
	}
	if h.vsDir != "" {
		dirs = append(dirs, h.vsDir)
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return fmt.Errorf("watch policy: %w", err)
		}
	}
	vsDir := filepath.Clean(h.vsDir)
	relevant := func(name string) bool {
		name = filepath.Clean(name)
		if h.vsDir != "" && filepath.Dir(name) == vsDir {
			return true
		}
		return policyFile == "" || name == policyFile
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !relevant(ev.Name) {
					continue
				}
				if timer != nil {
					timer.Stop()
				}
				timer = time.AfterFunc(250*time.Millisecond, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			case <-fire:
				_ = h.Reload()
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				h.log.Warn("policy watch error", slog.String("error", err.Error()))
			}
		}
	}()
	return nil
}
