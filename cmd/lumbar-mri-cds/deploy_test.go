package main

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployVariablesAreFlags: every LUMBAR_MRI_CDS_* variable that
// docker-compose.yml and the Kubernetes Deployment set is one that serve
// reads (unknown variables are ignored at run time, so a misspelt one would
// silently do nothing).
func TestDeployVariablesAreFlags(t *testing.T) {
	f, _ := serveFlags(func(string) string { return "" }, io.Discard)
	known := map[string]bool{}
	for _, s := range f.shown {
		known[s.env] = true
	}
	root := filepath.Join("..", "..")
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	read(t, filepath.Join(root, "docker-compose.yml"), &compose)
	var deployment struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name string `yaml:"name"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	read(t, filepath.Join(root, "deploy", "kubernetes", "deployment.yaml"), &deployment)

	set := map[string]string{} // variable -> where
	for name, s := range compose.Services {
		for v := range s.Environment {
			set[v] = "docker-compose.yml service " + name
		}
	}
	for _, c := range deployment.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			set[e.Name] = "deploy/kubernetes/deployment.yaml"
		}
	}
	var names []string
	for v := range set {
		if strings.HasPrefix(v, envPrefix) {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	if len(names) < 5 {
		t.Fatalf("found only %v", names)
	}
	for _, v := range names {
		if !known[v] {
			t.Errorf("%s sets %s, which serve does not read", set[v], v)
		}
	}
	for _, v := range []string{"LUMBAR_MRI_CDS_DATABASE_URL", "LUMBAR_MRI_CDS_TRUST_FILE", "LUMBAR_MRI_CDS_BASE_URL"} {
		if _, ok := set[v]; !ok {
			t.Errorf("%s is not set by the deployment files", v)
		}
	}
}

func read(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
