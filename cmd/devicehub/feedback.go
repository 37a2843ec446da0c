package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/shared/iothub"
)

// feedbackRow is one delivery outcome.
type feedbackRow iothub.FeedbackRecord

func (feedbackRow) header() []string {
	return []string{"ORIGINAL MESSAGE ID", "DEVICE ID", "STATUS", "DESCRIPTION", "ENQUEUED"}
}
func (r feedbackRow) cells() []string {
	return []string{r.OriginalMessageID, r.DeviceID, string(r.StatusCode), r.Description, timeCell(r.EnqueuedTimeUTC)}
}

func (c *cli) feedbackCmd() *cobra.Command {
	var follow, abandon bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Read delivery feedback of cloud-to-device messages",
		Long: `Reads delivery feedback batches, prints each record, and completes the batch.
Without --follow it stops when the queue is empty.`,
		Example: `  devicehub feedback
  devicehub feedback --follow -o table
  devicehub feedback --abandon          # look, and leave the records in the queue`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, err := c.service()
			if err != nil {
				return err
			}
			p := c.printer(cmd, true)
			for {
				b, err := svc.ReceiveFeedback(ctx)
				if err != nil {
					return err
				}
				if b == nil {
					if !follow {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(interval):
					}
					continue
				}
				for _, r := range b.Records {
					if err := p.print(feedbackRow(r)); err != nil {
						return err
					}
				}
				if abandon {
					return svc.AbandonFeedback(ctx, b.LockToken)
				}
				if err := svc.CompleteFeedback(ctx, b.LockToken); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVar(&follow, "follow", false, "keep polling")
	f.DurationVar(&interval, "interval", time.Second, "poll interval when the queue is empty")
	f.BoolVar(&abandon, "abandon", false, "print the records but leave them in the queue")
	return cmd
}
