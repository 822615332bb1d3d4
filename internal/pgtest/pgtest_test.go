package pgtest

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartQueryStop(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s=1", SkipEnv)
	}
	c, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.NewDatabase(t.Context())
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	var fsync string
	err = conn.QueryRow(t.Context(), "SHOW fsync").Scan(&fsync)
	conn.Close(t.Context())
	if err != nil || fsync != "on" {
		t.Errorf("SHOW fsync = %q, %v; want on", fsync, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory left behind: %v", err)
	}
}
