// Package kubernetes holds the Kubernetes manifests of the service; its test
// checks them offline by decoding each object strictly into the k8s.io/api
// type of its kind (unknown or misspelt fields are errors) and checking the
// references between them.
package kubernetes

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/auth"
	"github.com/lumbar-mri-cds/lumbar-mri-cds/internal/policy"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// manifests holds the decoded objects, by kind and name.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	configMaps  map[string]*corev1.ConfigMap
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
}

// load decodes every document of every *.yaml file in the folder, strictly.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			decode := func(obj metav1.Object) string {
				if err := yaml.UnmarshalStrict(doc, obj); err != nil {
					t.Errorf("%s document %d (%s): %v", f, i, tm.Kind, err)
				}
				if obj.GetName() == "" {
					t.Errorf("%s document %d (%s): no metadata.name", f, i, tm.Kind)
				}
				return obj.GetName()
			}
			switch gk := tm.APIVersion + " " + tm.Kind; gk {
			case "apps/v1 Deployment":
				keep(m.deployments, decode)
			case "v1 Service":
				keep(m.services, decode)
			case "v1 Secret":
				keep(m.secrets, decode)
			case "v1 ConfigMap":
				keep(m.configMaps, decode)
			case "policy/v1 PodDisruptionBudget":
				keep(m.pdbs, decode)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				keep(m.hpas, decode)
			default:
				t.Errorf("%s document %d: unexpected %q", f, i, gk)
			}
		}
	}
	return m
}

// keep decodes a new object of kind T with decode and files it in dst under
// its name.
func keep[T any, P interface {
	*T
	metav1.Object
}](dst map[string]P, decode func(metav1.Object) string) {
	o := P(new(T))
	dst[decode(o)] = o
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	doc := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  selectr: {a: b}\n")
	if err := yaml.UnmarshalStrict(doc, &corev1.Service{}); err == nil {
		t.Fatal("a misspelt field decoded without error: the manifest check would miss typos")
	}
}

func TestManifests(t *testing.T) {
	m := load(t)
	for kind, n := range map[string]int{"Deployment": len(m.deployments), "Service": len(m.services), "Secret": len(m.secrets),
		"ConfigMap": len(m.configMaps), "PodDisruptionBudget": len(m.pdbs), "HorizontalPodAutoscaler": len(m.hpas)} {
		if n == 0 {
			t.Errorf("no %s", kind)
		}
	}
	for _, d := range m.deployments {
		checkDeployment(t, m, d)
		pods := labels.Set(d.Spec.Template.Labels)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(pods) {
			t.Errorf("deployment %s: selector does not match its pod labels (%v)", d.Name, err)
		}
		served := false
		for _, s := range m.services {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
				served = true
				for _, p := range s.Spec.Ports {
					if !hasPort(d.Spec.Template.Spec.Containers[0], p.TargetPort.String()) {
						t.Errorf("service %s: targetPort %s is not a container port", s.Name, p.TargetPort.String())
					}
				}
			}
		}
		if !served {
			t.Errorf("deployment %s: no Service selects its pods", d.Name)
		}
		budget := false
		for _, p := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && sel.Matches(pods) {
				budget = p.Spec.MaxUnavailable != nil || p.Spec.MinAvailable != nil
			}
		}
		if !budget {
			t.Errorf("deployment %s: no PodDisruptionBudget with a bound covers its pods", d.Name)
		}
		scaled := false
		for _, h := range m.hpas {
			ref := h.Spec.ScaleTargetRef
			if ref.Kind == "Deployment" && ref.Name == d.Name && ref.APIVersion == "apps/v1" {
				scaled = true
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas || len(h.Spec.Metrics) == 0 {
					t.Errorf("hpa %s: want at least 2 replicas, max >= min and a metric", h.Name)
				}
			}
		}
		if !scaled {
			t.Errorf("deployment %s: no HorizontalPodAutoscaler targets it", d.Name)
		}
	}
}

// checkDeployment checks the service container: probes on the service's
// health routes, resources, secrets from Secret references that exist, and
// configuration mounted from ConfigMaps that exist and hold valid policies
// and a valid trust file.
func checkDeployment(t *testing.T, m *manifests, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("deployment %s: %d containers, want 1", d.Name, len(spec.Containers))
	}
	c := spec.Containers[0]
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", c.Name, what)
			return
		}
		if p.HTTPGet.Path != path || !hasPort(c, p.HTTPGet.Port.String()) {
			t.Errorf("%s: %s probe %s on port %s, want %s on a container port", c.Name, what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("%s: no %s request", c.Name, r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("%s: no %s limit", c.Name, r)
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: the root file system should be read-only (the PostgreSQL store needs no data folder)", c.Name)
	}

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range []string{"LUMBAR_MRI_CDS_DATABASE_URL", "LUMBAR_MRI_CDS_ADMIN_TOKEN"} {
		e, ok := env[name]
		if !ok || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s must come from a Secret (secretKeyRef), never a literal value", c.Name, name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		s, ok := m.secrets[ref.Name]
		if !ok {
			t.Errorf("%s: %s refers to Secret %q, not in the manifests", c.Name, name, ref.Name)
			continue
		}
		if _, ok := s.StringData[ref.Key]; !ok {
			if _, ok := s.Data[ref.Key]; !ok {
				t.Errorf("%s: %s refers to key %q, not in Secret %s", c.Name, name, ref.Key, s.Name)
			}
		}
	}
	if u := secretValue(m, env["LUMBAR_MRI_CDS_DATABASE_URL"]); !strings.HasPrefix(u, "postgres://") {
		t.Errorf("database-url %q is not a postgres:// URL", u)
	}

	// Files mounted from ConfigMaps, by mount path.
	mounted := map[string]*corev1.ConfigMap{}
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			t.Errorf("%s: mount %s has no volume", c.Name, vm.Name)
			continue
		}
		v := spec.Volumes[i]
		if v.ConfigMap == nil {
			continue
		}
		cm, ok := m.configMaps[v.ConfigMap.Name]
		if !ok {
			t.Errorf("volume %s refers to ConfigMap %q, not in the manifests", v.Name, v.ConfigMap.Name)
			continue
		}
		mounted[vm.MountPath] = cm
	}
	file := func(path string) (string, bool) {
		cm, ok := mounted[filepath.Dir(path)]
		if !ok {
			return "", false
		}
		s, ok := cm.Data[filepath.Base(path)]
		return s, ok
	}

	policyDir := env["LUMBAR_MRI_CDS_POLICY"].Value
	cm, ok := mounted[policyDir]
	if !ok {
		t.Fatalf("%s: LUMBAR_MRI_CDS_POLICY %q is not a ConfigMap mount", c.Name, policyDir)
	}
	dir := t.TempDir()
	for name, body := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vsDir := env["LUMBAR_MRI_CDS_VALUESETS"].Value
	vsCM, ok := mounted[vsDir]
	if !ok {
		t.Fatalf("%s: LUMBAR_MRI_CDS_VALUESETS %q is not a ConfigMap mount", c.Name, vsDir)
	}
	vs := t.TempDir()
	for name, body := range vsCM.Data {
		if err := os.WriteFile(filepath.Join(vs, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The policies load against the shipped value sets and the operator's,
	// as serve loads them.
	if _, err := policy.NewHolderWithValueSets(dir, vs, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Errorf("ConfigMaps %s and %s: the policies do not load with the value sets: %v", cm.Name, vsCM.Name, err)
	}

	trustPath := env["LUMBAR_MRI_CDS_TRUST_FILE"].Value
	body, ok := file(trustPath)
	if !ok {
		t.Fatalf("%s: LUMBAR_MRI_CDS_TRUST_FILE %q is not a file of a mounted ConfigMap", c.Name, trustPath)
	}
	path := filepath.Join(t.TempDir(), "trust.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadTrust(path); err != nil {
		t.Errorf("trust file %s does not load: %v", trustPath, err)
	}
}

func hasPort(c corev1.Container, port string) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == port || p.ContainerPort > 0 && port == itoa(p.ContainerPort)
	})
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func secretValue(m *manifests, e corev1.EnvVar) string {
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return ""
	}
	s, ok := m.secrets[e.ValueFrom.SecretKeyRef.Name]
	if !ok {
		return ""
	}
	if v, ok := s.StringData[e.ValueFrom.SecretKeyRef.Key]; ok {
		return v
	}
	return string(s.Data[e.ValueFrom.SecretKeyRef.Key])
}
