package sas

import (
	"errors"
	"strings"
	"time"
)

// ConnectionString is an IoT Hub connection string, device or service; its
// fields are the string's keys. It holds a secret key: do not log it.
type ConnectionString struct {
	HostName              string
	DeviceID              string
	ModuleID              string
	SharedAccessKeyName   string
	SharedAccessKey       string
	SharedAccessSignature string
}

// ParseConnectionString splits on ';' then on the first '='; empty values are
// dropped and the last duplicate wins, as in the SDKs.
func ParseConnectionString(s string) (ConnectionString, error) {
	var c ConnectionString
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			continue
		}
		switch k {
		case "HostName":
			c.HostName = v
		case "DeviceId":
			c.DeviceID = v
		case "ModuleId":
			c.ModuleID = v
		case "SharedAccessKeyName":
			c.SharedAccessKeyName = v
		case "SharedAccessKey":
			c.SharedAccessKey = v
		case "SharedAccessSignature":
			c.SharedAccessSignature = v
		}
	}
	if c.HostName == "" {
		return ConnectionString{}, errors.New("connection string: HostName is required")
	}
	if c.SharedAccessKey == "" && c.SharedAccessSignature == "" {
		return ConnectionString{}, errors.New("connection string: SharedAccessKey or SharedAccessSignature is required")
	}
	return c, nil
}

// String formats the connection string in the SDKs' field order, key included.
func (c ConnectionString) String() string {
	parts := []string{"HostName=" + c.HostName}
	if c.DeviceID != "" {
		parts = append(parts, "DeviceId="+c.DeviceID)
	}
	if c.ModuleID != "" {
		parts = append(parts, "ModuleId="+c.ModuleID)
	}
	if c.SharedAccessKeyName != "" {
		parts = append(parts, "SharedAccessKeyName="+c.SharedAccessKeyName)
	}
	if c.SharedAccessKey != "" {
		parts = append(parts, "SharedAccessKey="+c.SharedAccessKey)
	}
	if c.SharedAccessSignature != "" {
		parts = append(parts, "SharedAccessSignature="+c.SharedAccessSignature)
	}
	return strings.Join(parts, ";")
}

// Token returns a SAS token for this connection string valid for ttl: a device
// token when DeviceID is set, a policy token for the hub otherwise.
func (c ConnectionString) Token(now time.Time, ttl time.Duration) (string, error) {
	if c.SharedAccessSignature != "" {
		return c.SharedAccessSignature, nil
	}
	res := c.HostName
	if c.DeviceID != "" {
		res += "/devices/" + c.DeviceID
		if c.ModuleID != "" {
			res += "/modules/" + c.ModuleID
		}
	}
	return New(res, c.SharedAccessKey, c.SharedAccessKeyName, now.Add(ttl))
}
