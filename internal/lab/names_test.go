package lab

import "testing"

func TestIsLabNamespace(t *testing.T) {
	for _, tc := range []struct {
		lab, ns string
		want    bool
	}{
		{"ndlab", "ndlab-node1", true},
		{"ndlab", "ndlab-node12", true},
		{"ndlab", "ndlab-pod-web-8s8nvpmj6f-6zkht", true},
		{"ndlab", "ndlab-underlay", true},
		{"ndlab", "ndlab-vm", true},
		{"ndlab", "ndlab-extra1", true},
		{"ndlab", "ndlab-2-node1", false}, // lab "ndlab-2"
		{"ndlab", "ndlab-2-vm", false},
		{"ndlab", "ndlabx-node1", false},
		{"ndlab", "other-node1", false},
		{"ndlab", "ndlab-node", false},
	} {
		if got := isLabNamespace(tc.lab, tc.ns); got != tc.want {
			t.Errorf("isLabNamespace(%q, %q) = %v, want %v", tc.lab, tc.ns, got, tc.want)
		}
	}
}
