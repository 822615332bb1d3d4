package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File modes of the data directory and what it holds: the audit trail and
// the pseudonym key are for the service's own user only.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// prepareDir creates dir 0700, or tightens an existing one that others can
// read or enter; it refuses, with the reason, a directory it cannot tighten.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("store: data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("store: data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("store: data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, dirMode); err != nil {
			return fmt.Errorf("store: data directory %s is mode %v, readable by others, and could not be made 0700: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// prepareDBFiles creates the database file 0600 when missing, so that SQLite
// (which gives its -wal and -shm files the database file's mode) never makes
// any of them readable by others, and tightens existing ones.
func prepareDBFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("store: %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: %s: %w", filepath.Base(path), err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %s: %w", filepath.Base(p), err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fileMode); err != nil {
				return fmt.Errorf("store: %s is mode %v, readable by others, and could not be made 0600: %w", filepath.Base(p), fi.Mode().Perm(), err)
			}
		}
	}
	return nil
}
