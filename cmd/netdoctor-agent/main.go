// Command netdoctor-agent is the node agent alone (`netdoctor agent` without the diagnoser, the
// lab and the tools): the binary of the agent image (go run ./build/image). It takes the same
// arguments as `netdoctor agent` — a leading "agent" included — so the DaemonSet's args are
// valid for both. It links only what the agent needs, which keeps its memory on every node low
// (docs/benchmarks.md). Build it as the image does (image.AgentBuild): CGO_ENABLED=0 and
// -tags grpcnotrace, without which gRPC links golang.org/x/net/trace and its html/template.
package main

import (
	"context"
	"os"

	agentcmd "github.com/netdoctor/netdoctor/cmd/agent"
	"github.com/netdoctor/netdoctor/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	s := cli.OSStreams()
	err := agentcmd.Standalone(ctx, &s, os.Args[1:])
	stop()
	cli.PrintError(os.Stderr, err)
	os.Exit(cli.Code(err))
}
