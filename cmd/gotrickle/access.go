package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Environment variables for the secrets and lists of the access flags: a
// token on the command line is visible to every user of the machine (ps),
// one in the environment is not.
const (
	envAPIToken       = "GOTRICKLE_API_TOKEN"
	envAllowHosts     = "GOTRICKLE_ALLOW_HOSTS"
	envPublishToken   = "GOTRICKLE_PUBLISH_TOKEN"
	envSubscribeToken = "GOTRICKLE_SUBSCRIBE_TOKEN"
	envTrickleToken   = "GOTRICKLE_TRICKLE_TOKEN"
	envToken          = "GOTRICKLE_TOKEN"
)

// fromEnv gives a string flag its environment variable's value when the
// flag was not given (the flag wins).
func fromEnv(c *cobra.Command, flag, env string, dst *string) {
	if v, ok := os.LookupEnv(env); ok && !c.Flags().Changed(flag) {
		*dst = v
	}
}

// listFromEnv is fromEnv for a comma-separated list flag.
func listFromEnv(c *cobra.Command, flag, env string, dst *[]string) {
	if v, ok := os.LookupEnv(env); ok && !c.Flags().Changed(flag) {
		*dst = splitList(v)
	}
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkAllowHosts refuses bad --allow-hosts entries as a usage error
// (api.New would only log and skip them).
func checkAllowHosts(patterns []string) error {
	if err := api.ValidateAllowHosts(patterns); err != nil {
		return fmt.Errorf("%w: --allow-hosts: %w", errUsage, err)
	}
	return nil
}

// trickleTokenClient is the processor's HTTP client when it must send a
// bearer token to trickle servers: only to hosts, never to whatever else a
// start request names.
func trickleTokenClient(token string, hosts []string) (*http.Client, error) {
	if token == "" {
		return nil, nil
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%w: --trickle-token needs --trickle-token-hosts, so that the token goes only to your trickle servers", errUsage)
	}
	return &http.Client{Transport: &trickle.TokenTransport{
		Token: token,
		Hosts: hosts,
		Base:  http.DefaultTransport.(*http.Transport).Clone(),
	}}, nil
}
