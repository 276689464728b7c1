package fault

import (
	"github.com/netdoctor/netdoctor/internal/diag"
	"github.com/netdoctor/netdoctor/internal/lab"
)

// WrongTargetPort: the web Service's targetPort is 8081 while the pods declare and listen on 8080.
func WrongTargetPort() lab.Fault {
	return lab.Fault{
		Name:        "wrong-target-port",
		Description: "Service web has targetPort 8081 but its pods listen on containerPort 8080: the ClusterIP refuses, pod IPs answer",
		Kind:        diag.KindPortUnreachable,
		Hop:         diag.Hop{Where: "Service default/web spec.ports[http].targetPort 8081 (pods listen on 8080)"},
		Cause:       "the Service's targetPort (8081) does not match the containerPort the pods listen on (8080), so kube-proxy DNATs to a closed port",
		Fix:         "set the Service's targetPort to 8080 (or to the named port \"http\")",
		Request:     lab.Request{From: client1, To: webSvc, Proto: "tcp"},
		Facts:       map[string]string{"service": "default/web", "target_port": "8081", "container_port": "8080"},
		Mutate: func(p *lab.Plan) {
			p.Service("default", "web").Ports[0].TargetPort = 8081
		},
		Flows: []lab.Flow{
			{Name: "ClusterIP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeRefused},
			{Name: "pod IP on the containerPort", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}

// AppNotListening: the web pods declare containerPort 8080, but the application listens on 9090.
func AppNotListening() lab.Fault {
	return lab.Fault{
		Name:        "app-not-listening",
		Description: "web pods declare containerPort 8080 but the process listens on 9090: Service and pod IP both refuse",
		Kind:        diag.KindPortUnreachable,
		Hop:         diag.Hop{Node: "node2", Netns: podNetns("web", "node2"), Where: "web pod: nothing listens on 8080 (the app listens on 9090)"},
		Cause:       "the application in the web pods listens on 9090 while the pod spec and the Service say 8080",
		Fix:         "make the app listen on 8080 (check its config/env), or change containerPort and the Service targetPort to 9090",
		Request:     lab.Request{From: client1, To: webSvc, Proto: "tcp"},
		Facts:       map[string]string{"container_port": "8080", "listening_port": "9090", "service": "default/web"},
		Mutate: func(p *lab.Plan) {
			for _, pod := range p.PodsByApp("web") {
				pod.Listen = []lab.Port{{Name: "http", Port: 9090, Proto: "tcp"}}
			}
		},
		Flows: []lab.Flow{
			{Name: "ClusterIP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeRefused},
			{Name: "pod IP on the containerPort", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeRefused},
		},
	}
}

// NoReadyEndpoints: the web pods fail their readiness probe; the EndpointSlice lists them not ready
// and kube-proxy installs its "has no endpoints" REJECT rule.
func NoReadyEndpoints() lab.Fault {
	return lab.Fault{
		Name:        "no-ready-endpoints",
		Description: "web pods are not ready (readiness probe failing): the Service has no ready endpoints and kube-proxy rejects its ClusterIP",
		Kind:        diag.KindPortUnreachable,
		Hop:         diag.Hop{Where: "EndpointSlice of default/web: 0 ready endpoints (kube-proxy REJECT \"has no endpoints\")"},
		Cause:       "every pod behind Service default/web fails its readiness probe, so the EndpointSlice has no ready endpoint and kube-proxy rejects connections to the ClusterIP",
		Fix:         "find why the readiness probe fails (kubectl describe pod, probe path/port) and fix the app or the probe",
		Request:     lab.Request{From: client1, To: webSvc, Proto: "tcp"},
		Facts:       map[string]string{"service": "default/web", "ready_endpoints": "0"},
		Mutate: func(p *lab.Plan) {
			for _, pod := range p.PodsByApp("web") {
				pod.Ready = false
				p.Events = append(p.Events, lab.Event{Namespace: pod.Namespace, Object: "Pod/" + pod.Name, Type: "Warning", Reason: "Unhealthy",
					Message: "Readiness probe failed: HTTP probe failed with statuscode: 503"})
			}
		},
		Flows: []lab.Flow{
			{Name: "ClusterIP", From: client1, To: webSvc, Proto: "tcp", Want: lab.OutcomeRefused},
			{Name: "pod IP", From: client1, To: web2, Proto: "tcp", Want: lab.OutcomeOK},
		},
	}
}
