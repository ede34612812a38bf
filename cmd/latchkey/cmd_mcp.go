package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector/mcpserver"
)

func newMCPCmd(env *cliEnv) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve latchkey's tools to an MCP assistant over stdio (it launches this command)",
		Long: `mcp serves the Model Context Protocol on stdin and stdout for an assistant
that launches its servers as programs. It talks to the running daemon over its
control socket; --integrations limits what the assistant reaches. Tools: search,
my_courses, get_article, open_course (opens the course signed in on this
desktop; the link never goes to the assistant). No token reaches the assistant.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl := &env.ctl
			if err := cl.Ping(cmd.Context()); err != nil {
				return err
			}
			api := controlAPI{cl: cl}
			var srv *mcp.Server
			srv = mcpserver.NewServer(api, mcpserver.Options{Integrations: only, Version: version,
				OnCall: func(ctx context.Context, _ *sdkauth.TokenInfo, tool string, err error) {
					app := ""
					for ss := range srv.Sessions() {
						if p := ss.InitializeParams(); p != nil && p.ClientInfo != nil {
							app = p.ClientInfo.Name
						}
					}
					_ = cl.AuditMCP(context.WithoutCancel(ctx), apitype.MCPAuditRequest{App: app, Tool: tool, OK: err == nil})
				}})
			return srv.Run(cmd.Context(), &mcp.StdioTransport{})
		},
	}
	cmd.Flags().StringSliceVar(&only, "integrations", nil, "only these integrations (comma-separated), e.g. docebo,document360")
	return cmd
}

// controlAPI is the local API over the daemon's control socket.
type controlAPI struct{ cl *client.Client }

func (a controlAPI) Get(ctx context.Context, _ *sdkauth.TokenInfo, path string, q url.Values) (int, []byte, error) {
	body, err := a.cl.Get(ctx, path, q)
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		msg, _ := json.Marshal(map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
		return ae.Status, msg, nil
	case err != nil:
		return 0, nil, err
	}
	return http.StatusOK, body, nil
}

func (a controlAPI) OpenCourse(ctx context.Context, _ *sdkauth.TokenInfo, integration, id string) error {
	err := a.cl.OpenCourse(ctx, integration, id)
	var ae *client.APIError
	if errors.As(err, &ae) {
		return errors.New(strings.TrimSpace(ae.Message))
	}
	return err
}
