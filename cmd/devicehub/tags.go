package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/devicehub/devicehub/shared/iothub"
)

// tagsRow prints a device twin's tags with the etag that guards them.
type tagsRow struct {
	DeviceID string         `json:"deviceId"`
	ETag     string         `json:"etag"`
	Version  int64          `json:"version"`
	Tags     map[string]any `json:"tags"`
}

func newTagsRow(t iothub.Twin) tagsRow {
	tags := t.Tags
	if tags == nil {
		tags = map[string]any{}
	}
	return tagsRow{DeviceID: t.DeviceID, ETag: t.ETag, Version: t.Version, Tags: tags}
}

func (tagsRow) header() []string { return []string{"DEVICE ID", "ETAG", "VERSION", "TAGS"} }
func (r tagsRow) cells() []string {
	tags, _ := json.Marshal(r.Tags)
	return []string{r.DeviceID, r.ETag, strconv.FormatInt(r.Version, 10), string(tags)}
}

func (c *cli) deviceTagsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tags",
		Short: "Read and write a device's tags (its twin's, as IoT Hub keeps them)",
		Example: `  devicehub device tags get thermostat-1
  devicehub device tags set thermostat-1 '{"site":"b43","floor":2}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(c.deviceTagsGetCmd(), c.deviceTagsSetCmd())
	return cmd
}

func (c *cli) deviceTagsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "get ID",
		Short:             "Print a device's tags and the twin etag that guards them",
		Example:           `  devicehub device tags get thermostat-1 | jq .tags.site`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := c.service()
			if err != nil {
				return err
			}
			t, err := svc.GetTwin(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.printOne(cmd, newTagsRow(t))
		},
	}
}

func (c *cli) deviceTagsSetCmd() *cobra.Command {
	var etag string
	var replace bool
	cmd := &cobra.Command{
		Use:   "set ID JSON",
		Short: "Change a device's tags with a JSON merge patch, or replace them",
		Long: `Merges JSON, an object, into the device's tags as IoT Hub's twin update does:
a key set to null is removed, an object merges into an object, any other value
replaces. --replace makes JSON the device's tags instead. A JSON of "-" is read
from standard input. --etag applies the change only if the twin's etag (from
'tags get') is still the same. Prints the tags after the change.`,
		Example: `  devicehub device tags set thermostat-1 '{"site":"b43","location":{"floor":2}}'
  devicehub device tags set thermostat-1 '{"location":{"floor":null}}' --etag AAAAAAAAAAI=
  devicehub device tags set thermostat-1 --replace '{}'
  devicehub device tags set thermostat-1 - < tags.json`,
		// A JSON that does not parse is a usage error, found before any request.
		Args: cobra.MatchAll(cobra.ExactArgs(2), func(_ *cobra.Command, args []string) error {
			if args[1] == "-" {
				return nil
			}
			_, err := parseTags([]byte(args[1]))
			return err
		}),
		ValidArgsFunction: c.completeDeviceArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := []byte(args[1])
			if args[1] == "-" {
				var err error
				if raw, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
			}
			tags, err := parseTags(raw)
			if err != nil {
				return err
			}
			svc, err := c.service()
			if err != nil {
				return err
			}
			var t iothub.Twin
			if replace {
				t, err = svc.ReplaceTags(cmd.Context(), args[0], tags, etag)
			} else {
				t, err = svc.UpdateTags(cmd.Context(), args[0], tags, etag)
			}
			if err != nil {
				return err
			}
			return c.printOne(cmd, newTagsRow(t))
		},
	}
	cmd.Flags().StringVar(&etag, "etag", "", "change only if the twin's etag is this one (default: any)")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace the tags with JSON instead of merging it")
	return cmd
}

// parseTags reads a JSON object, keeping numbers as written so that the hub
// checks them exactly.
func parseTags(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tags map[string]any
	if err := dec.Decode(&tags); err != nil || tags == nil {
		return nil, errors.New("tags must be a JSON object, e.g. '{\"site\":\"b43\"}'")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("tags must be one JSON object")
	}
	return tags, nil
}
