package fault

import (
	"regexp"
	"strings"
	"testing"

	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestCatalogueComplete(t *testing.T) {
	cat := Catalogue()
	if len(cat) < 21 {
		t.Fatalf("catalogue has %d entries, want at least 20 faults plus none", len(cat))
	}
	if cat[0].Name != "none" || cat[0].Kind != diag.KindHealthy {
		t.Errorf("first entry must be the healthy none, got %s/%s", cat[0].Name, cat[0].Kind)
	}
	for i, seed := range []string{"dual-ip-vxlan-source", "mtu-blackhole-outside-vm", "kube-proxy-evicted-new-node"} {
		if cat[i+1].Name != seed {
			t.Errorf("entry %d is %s, want seed %s", i+1, cat[i+1].Name, seed)
		}
	}
	seen := map[string]bool{}
	perKind := map[diag.Kind]int{}
	for _, f := range cat {
		if !kebab.MatchString(f.Name) || seen[f.Name] {
			t.Errorf("fault name %q not kebab-case or duplicated", f.Name)
		}
		seen[f.Name] = true
		if !f.Kind.Valid() {
			t.Errorf("%s: invalid kind %q", f.Name, f.Kind)
		}
		perKind[f.Kind]++
		if f.Description == "" || strings.Contains(f.Description, "\n") || f.Cause == "" || f.Fix == "" || f.Hop.Where == "" {
			t.Errorf("%s: description, cause, fix and hop.where are required (one-line description)", f.Name)
		}
		if f.Request.From == "" || f.Request.To == "" || f.Request.Proto == "" {
			t.Errorf("%s: incomplete request %+v", f.Name, f.Request)
		}
		if len(f.Flows) == 0 {
			t.Errorf("%s: no flows: verify would assert nothing", f.Name)
		}
		if f.Name != "none" && (f.Mutate == nil && f.Inject == nil) {
			t.Errorf("%s: neither Mutate nor Inject: the fault changes nothing", f.Name)
		}
		if f.Name != "none" && len(f.Facts) == 0 {
			t.Errorf("%s: no ground-truth facts", f.Name)
		}
		broken := false
		for _, fl := range f.Flows {
			if fl.Want != lab.OutcomeOK {
				broken = true
			}
		}
		if f.Name != "none" && !broken {
			t.Errorf("%s: every flow wants ok: the symptom is not checked", f.Name)
		}
	}
	for _, k := range diag.Kinds {
		if k != diag.KindHealthy && perKind[k] < 2 {
			t.Errorf("kind %s has %d faults, want several", k, perKind[k])
		}
	}
}

func TestLookup(t *testing.T) {
	if f, err := Lookup("mtu-blackhole-outside-vm"); err != nil || f.Kind != diag.KindLargePacketLoss {
		t.Errorf("Lookup = %v, %v", f.Name, err)
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Lookup(nope) error = %v", err)
	}
}

// The seed cases carry the facts a diagnosis must state.
func TestSeedFacts(t *testing.T) {
	for name, keys := range map[string][]string{
		"dual-ip-vxlan-source":        {"static_ip", "dhcp_ip", "vtep_ip", "internal_ip"},
		"mtu-blackhole-outside-vm":    {"client_mtu", "tunnel_mtu"},
		"kube-proxy-evicted-new-node": {"node", "cluster_ip", "reason"},
	} {
		f, _ := Lookup(name)
		for _, k := range keys {
			if f.Facts[k] == "" {
				t.Errorf("%s: fact %s missing", name, k)
			}
		}
	}
}
