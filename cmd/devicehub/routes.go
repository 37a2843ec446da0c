package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/shared/iothub"
)

// routeCountRow is one route's and endpoint's counters.
type routeCountRow iothub.RouteCount

func (routeCountRow) header() []string {
	return []string{"ROUTE", "ENDPOINT", "DELIVERED", "DEAD-LETTERED", "UPDATED"}
}
func (r routeCountRow) cells() []string {
	return []string{r.Route, r.Endpoint, strconv.FormatInt(r.Delivered, 10), strconv.FormatInt(r.DeadLettered, 10), timeCell(r.Updated)}
}

// deadLetterRow is one dead letter, without its message.
type deadLetterRow iothub.RoutingDeadLetter

func (deadLetterRow) header() []string {
	return []string{"DEAD-LETTERED", "ROUTE", "ENDPOINT", "DEVICE ID", "MESSAGE ID", "SEQUENCE NUMBER", "REASON"}
}
func (r deadLetterRow) cells() []string {
	return []string{timeCell(r.DeadLetteredTime), r.Route, r.Endpoint, r.DeviceID, r.MessageID, r.SequenceNumber, r.Reason}
}

func (c *cli) routesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "routes",
		Short: "Print the message router's counters and latest dead letters",
		Long: `Prints, per route and endpoint, the messages the router delivered and the ones
it dead-lettered, and the latest dead letters with their reasons. $fallback is
IoT Hub's fallback route (device messages that matched no route), events the
built-in endpoint (the telemetry stream), $unroutable the records the router
could not evaluate.

--output json prints the hub's answer as one JSON object, dead letters with
their message (a telemetry record) when it is small; --output table prints
the counters, then the dead letters.`,
		Example: `  devicehub routes -o table
  devicehub routes | jq '.deadLetters[] | {route, reason}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			st, err := svc.RoutingStats(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if c.output == outputJSON {
				line, err := marshal(st)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(out, string(line))
				return err
			}
			p := c.printer(cmd, false)
			for _, r := range st.Routes {
				if err := p.print(routeCountRow(r)); err != nil {
					return err
				}
			}
			if err := p.flush(); err != nil || len(st.DeadLetters) == 0 {
				return err
			}
			if len(st.Routes) > 0 {
				fmt.Fprintln(out)
			}
			p = c.printer(cmd, false)
			for _, d := range st.DeadLetters {
				if err := p.print(deadLetterRow(d)); err != nil {
					return err
				}
			}
			return p.flush()
		},
	}
}
