package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/internal/scaffold"
)

func newListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the templates gotrickle init can start from",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, t := range scaffold.Templates() {
				fmt.Fprintf(w, "%s\t%s\n", t.Name, t.Description)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), "\nUse: gotrickle init NAME --template TEMPLATE")
			return err
		},
	}
}
