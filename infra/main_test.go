package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/devicehub/devicehub/infra/hub"
)

func TestStackPropsFromContext(t *testing.T) {
	ctx := map[string]string{
		"stackName": "Hub2", "api": "rest", "removalPolicy": "destroy", "streamShards": "4",
		"c2dMaxQueue": "200", "sweepRate": "2m", "domainName": "hub.example.com", "certificateArn": "arn:cert",
	}
	env := map[string]string{"CDK_DEFAULT_REGION": "us-east-1", "AWS_REGION": "eu-central-1", "CDK_DEFAULT_ACCOUNT": "123456789012"}
	name, p, err := stackProps(func(k string) string { return ctx[k] }, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h := p.Hub
	if name != "Hub2" || h.API != hub.RESTAPI || h.RemovalPolicy != awscdk.RemovalPolicy_DESTROY || h.StreamShards != 4 ||
		h.C2DMaxQueue != 200 || h.SweepRate != 2*time.Minute || h.Domain == nil || h.Domain.CertificateARN != "arn:cert" {
		t.Errorf("%s %+v", name, h)
	}
	// AWS_REGION wins: the CLI overwrites CDK_DEFAULT_REGION with us-east-1
	// when it finds no AWS config.
	if *p.Env.Region != "eu-central-1" || *p.Env.Account != "123456789012" {
		t.Errorf("env %s %s", *p.Env.Region, *p.Env.Account)
	}
}

func TestStackPropsDefaults(t *testing.T) {
	none := func(string) string { return "" }
	name, p, err := stackProps(none, none)
	if err != nil || name != "DeviceHub" || p.Env != nil || !reflect.ValueOf(p.Hub).IsZero() {
		t.Errorf("%s %+v %v", name, p, err)
	}
}

func TestStackPropsRejects(t *testing.T) {
	for key, value := range map[string]string{"removalPolicy": "snapshot", "streamShards": "many", "feedbackTTL": "1 hour"} {
		get := func(k string) string {
			if k == key {
				return value
			}
			return ""
		}
		if _, _, err := stackProps(get, func(string) string { return "" }); err == nil {
			t.Errorf("%s=%s accepted", key, value)
		}
	}
}
