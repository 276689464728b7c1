package fault

import (
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// None is the healthy lab: every flow of every fault works.
func None() lab.Fault {
	return lab.Fault{
		Name:        "none",
		Description: "healthy lab: no fault injected",
		Kind:        diag.KindHealthy,
		Hop:         diag.Hop{Where: "nowhere: everything works"},
		Cause:       "nothing is broken",
		Fix:         "nothing to fix",
		Request:     lab.Request{From: client3, To: webSvc, Proto: "tcp"},
		Flows: []lab.Flow{
			{Name: "new node to ClusterIP", From: client3, To: webSvc, Proto: "http", Want: lab.OutcomeOK},
			{Name: "DNS from the new node", From: client3, To: dnsName, Proto: "dns", Want: lab.OutcomeOK},
			{Name: "UDP echo through the ClusterIP", From: client3, To: "svc/default/web:9000", Proto: "udp", Want: lab.OutcomeOK},
			{Name: "outside VM to NodePort, large POST", From: vmNetns, To: nodePort, Proto: "http", Size: 200000, Want: lab.OutcomeOK},
			{Name: "outside VM to the ingress NodePort, large POST", From: vmNetns, To: ingress, Proto: "http", Size: 200000, Want: lab.OutcomeOK},
		},
	}
}
