package diagnose

// live-cluster hook (issue 8): the live API server as the cluster view.

import (
	"context"
	"fmt"

	"github.com/netdoctor/netdoctor/internal/cli"
	"github.com/netdoctor/netdoctor/internal/kube"
	"github.com/netdoctor/netdoctor/internal/kube/live"
)

// useLive: no dump or lab named, and kubectl-plugin mode or a kubeconfig given.
func (o *Options) useLive() bool {
	return o.ClusterDump == "" && o.Lab == "" && (o.plugin || o.kube.Given())
}

// liveView lists the cluster view from the API server, bounded by the diagnosis timeout.
func (o *Options) liveView(ctx context.Context) (*kube.Cluster, error) {
	var warns []string
	c, err := o.kube.Cluster(ctx, live.Options{Timeout: o.Timeout, Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }})
	if err != nil {
		return nil, cli.Failf("%v", err)
	}
	o.liveNotes = warns
	return c, nil
}
