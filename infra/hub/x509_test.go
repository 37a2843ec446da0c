package hub_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicehub/devicehub/infra/hub"
	"github.com/devicehub/devicehub/internal/schema"
)

const x509Cert = "arn:aws:acm:eu-west-1:123456789012:certificate/x509"

// TestX509FrontDoor synthesizes the mutual-TLS front door in both API
// flavours: an internet-facing load balancer in passthrough mode in front of
// the ingress bootstrap in its ALB mode, with the ingress function's grants
// and nothing else; cdk-nag clean.
func TestX509FrontDoor(t *testing.T) {
	for _, api := range []hub.APIKind{hub.HTTPAPI, hub.RESTAPI} {
		t.Run(string(api), func(t *testing.T) {
			f := synth(t, hub.Props{API: api, X509: &hub.X509{Domain: "devices.example.com", CertificateARN: x509Cert}})
			checkNag(t, f)
			checkX509(t, f, "")
			checkGoRuntime(t, f, "204MiB")
		})
	}
	t.Run("renamed header, shared VPC settings", func(t *testing.T) {
		f := synth(t, hub.Props{X509: &hub.X509{Domain: "devices.example.com", CertificateARN: x509Cert, ClientCertHeader: "X-Device-Chain", Concurrency: 7},
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY, DisableDeletionProtection: true})
		checkNag(t, f)
		checkX509(t, f, "X-Device-Chain")
		fn := f.resources("AWS::Lambda::Function")[f.logicalID(f.hub.X509Function)]
		if fn["ReservedConcurrentExecutions"] != 7.0 {
			t.Errorf("reserved concurrency %v, want 7", fn["ReservedConcurrentExecutions"])
		}
	})
	// The front door's function is built like every other: JSON logs at the
	// configured levels, and with the aws/kinesis key (no stack key) it
	// needs no kms grant.
	t.Run("aws/kinesis key, logging", func(t *testing.T) {
		f := synth(t, hub.Props{X509: &hub.X509{Domain: "devices.example.com", CertificateARN: x509Cert}, StreamKey: hub.AWSManagedStreamKey})
		checkNag(t, f)
		checkX509(t, f, "")
		fn := f.resources("AWS::Lambda::Function")[f.logicalID(f.hub.X509Function)]
		if lc := canon(fn["LoggingConfig"]); !strings.Contains(lc, `"LogFormat":"JSON"`) || !strings.Contains(lc, `"SystemLogLevel":"WARN"`) {
			t.Errorf("mTLS function logging %s, want JSON at system level WARN like the other functions", lc)
		}
	})
}

func checkX509(t *testing.T, f *fixture, header string) {
	t.Helper()
	lbs := f.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
	if len(lbs) != 1 {
		t.Fatalf("%d load balancers, want 1", len(lbs))
	}
	for _, lb := range lbs {
		attrs := map[string]any{}
		for _, a := range list(lb["LoadBalancerAttributes"]) {
			attrs[dig(a, "Key").(string)] = dig(a, "Value")
		}
		if lb["Scheme"] != "internet-facing" || attrs["routing.http.drop_invalid_header_fields.enabled"] != "true" ||
			attrs["access_logs.s3.enabled"] != "true" {
			t.Errorf("load balancer %s", canon(lb))
		}
	}
	listeners := f.resources("AWS::ElasticLoadBalancingV2::Listener")
	if len(listeners) != 1 {
		t.Fatalf("%d listeners, want 1", len(listeners))
	}
	for _, l := range listeners {
		if l["Port"] != 443.0 || l["Protocol"] != "HTTPS" || dig(l, "MutualAuthentication", "Mode") != "passthrough" ||
			dig(list(l["Certificates"])[0], "CertificateArn") != x509Cert {
			t.Errorf("listener %s", canon(l))
		}
		attrs := canon(l["ListenerAttributes"])
		if (header != "") != strings.Contains(attrs, `"routing.http.request.x_amzn_mtls_clientcert.header_name"`) ||
			header != "" && !strings.Contains(attrs, `"`+header+`"`) {
			t.Errorf("listener attributes %s, want the header renamed to %q", attrs, header)
		}
	}
	fnID := f.logicalID(f.hub.X509Function)
	for _, tg := range f.resources("AWS::ElasticLoadBalancingV2::TargetGroup") {
		if tg["TargetType"] != "lambda" || !strings.Contains(canon(tg["Targets"]), fnID) ||
			!strings.Contains(canon(tg["TargetGroupAttributes"]), `{"Key":"lambda.multi_value_headers.enabled","Value":"true"}`) {
			t.Errorf("target group %s", canon(tg))
		}
	}
	fn := f.resources("AWS::Lambda::Function")[fnID]
	vars := dig(fn, "Environment", "Variables").(map[string]any)
	if vars[schema.EnvFrontDoor] != schema.FrontDoorALB || vars[schema.EnvHubHost] == nil || vars[schema.Devices.EnvVar] == nil {
		t.Errorf("function environment %s", canon(vars))
	}
	if (vars[schema.EnvClientCertHeader] != nil) != (header != "") || header != "" && vars[schema.EnvClientCertHeader] != header {
		t.Errorf("client certificate header variable %v, want %q", vars[schema.EnvClientCertHeader], header)
	}
	// The ingress bootstrap, and only the load balancer may invoke it.
	ingress := f.resources("AWS::Lambda::Function")[f.logicalID(f.hub.Functions[hub.Ingress])]
	if canon(fn["Code"]) != canon(ingress["Code"]) {
		t.Errorf("code %s, want the ingress asset %s", canon(fn["Code"]), canon(ingress["Code"]))
	}
	var invokers []string
	for _, p := range f.resources("AWS::Lambda::Permission") {
		if strings.Contains(canon(p["FunctionName"]), fnID) {
			invokers = append(invokers, p["Principal"].(string))
		}
	}
	if canon(invokers) != `["elasticloadbalancing.amazonaws.com"]` {
		t.Errorf("invokers %v", invokers)
	}
	// The same grants as the ingress function, log group aside.
	grants := func(roleID string) []string {
		var out []string
		for _, p := range f.resources("AWS::IAM::Policy") {
			if !strings.Contains(canon(p["Roles"]), `"`+roleID+`"`) {
				continue
			}
			for _, st := range list(dig(p, "PolicyDocument", "Statement")) {
				if strings.Contains(canon(dig(st, "Action")), "logs:") {
					continue
				}
				for _, a := range strs(dig(st, "Action")) {
					for _, r := range list(dig(st, "Resource")) {
						out = append(out, a+" on "+canon(r))
					}
				}
			}
		}
		return out
	}
	if d := diffSets(grants(f.ref(t, f.hub.Functions[hub.Ingress].Role().RoleName())), grants(f.ref(t, f.hub.X509Function.Role().RoleName()))); d != "" {
		t.Errorf("the mTLS function's grants differ from the ingress function's:%s", d)
	}
	if nats := f.resources("AWS::EC2::NatGateway"); len(nats) != 0 {
		t.Errorf("%d NAT gateways: the VPC holds only the load balancer", len(nats))
	}
	outs := f.template["Outputs"].(map[string]any)
	if o, ok := outs[hub.OutputX509Target].(map[string]any); !ok || !strings.Contains(canon(o["Value"]), "DNSName") {
		t.Errorf("output %s: %v", hub.OutputX509Target, outs[hub.OutputX509Target])
	}
}

// Without X509 the stack holds no load balancer, VPC or extra function.
func TestX509Off(t *testing.T) {
	f := synth(t, hub.Props{})
	for _, typ := range []string{"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::EC2::VPC", "AWS::S3::Bucket"} {
		must(t, typ, func() { f.tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(0)) })
	}
	if _, ok := f.template["Outputs"].(map[string]any)[hub.OutputX509Target]; ok || f.hub.X509Function != nil {
		t.Error("an X.509 front door without Props.X509")
	}
}

func TestX509PropsValidation(t *testing.T) {
	for name, x := range map[string]*hub.X509{
		"no domain":      {CertificateARN: x509Cert},
		"no certificate": {Domain: "d.example.com"},
		"bad header":     {Domain: "d.example.com", CertificateARN: x509Cert, ClientCertHeader: "X Cert"},
		"concurrency":    {Domain: "d.example.com", CertificateARN: x509Cert, Concurrency: -2},
	} {
		app := awscdk.NewApp(nil)
		if _, _, err := hub.NewStack(app, "T", &hub.StackProps{Hub: hub.Props{X509: x}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The caller's props are not changed by the defaults.
	x := &hub.X509{Domain: "d.example.com", CertificateARN: x509Cert}
	f := synth(t, hub.Props{X509: x})
	if x.Concurrency != 0 || f.hub.Props.X509.Concurrency != 100 {
		t.Errorf("caller's concurrency %d, hub's %d", x.Concurrency, f.hub.Props.X509.Concurrency)
	}
}
