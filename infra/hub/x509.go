package hub

// The mutual-TLS front door for X.509 devices (docs/X509.md has the choice
// and its figures): an internet-facing Application Load Balancer whose HTTPS
// listener runs mutual TLS in passthrough mode. The handshake proves the
// device holds the key of the certificate it presents; the load balancer
// forwards the chain, unverified, in a header to a function of its own (the
// ingress bootstrap with DEVICEHUB_FRONT_DOOR=alb-mtls), which verifies it
// against the registry: thumbprints for selfSigned devices, the verified CAs
// for CA-signed ones. No truststore is needed, so neither kind is bounded by
// one (API Gateway's mutual TLS would need every accepted certificate, each
// selfSigned device's included, to chain to its truststore: 1,000
// certificates at most).

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/internal/schema"
)

// IngressMTLS names the function behind the mTLS load balancer. It runs the
// ingress bootstrap (Props.AssetDir/ingress) in its ALB mode.
const IngressMTLS = "ingress-mtls"

// X509 configures the mutual-TLS front door X.509 devices connect to. SAS
// devices and the service keep using the API.
type X509 struct {
	// Domain is the host X.509 devices connect to (their connection
	// string's HostName); point a DNS record at Hub.X509Target.
	Domain         string
	Certificate    awscertificatemanager.ICertificate // ACM certificate for Domain, in the stack's region
	CertificateARN string                             // or its ARN, imported when Certificate is nil
	// VPC holds the load balancer in its public subnets (two zones at
	// least); default a new VPC of two zones with public subnets only: no
	// NAT gateway, nothing else runs in it.
	VPC awsec2.IVpc
	// ClientCertHeader renames the header the load balancer puts the client
	// chain in (a listener attribute) and tells the function; default the
	// load balancer's own X-Amzn-Mtls-Clientcert.
	ClientCertHeader string
	// Concurrency reserves (and caps) the function's concurrency; default
	// the ingress function's. Unreserved leaves it in the shared pool.
	Concurrency int
}

// x509Defaults checks and completes p.X509.
func (p *Props) x509Defaults() error {
	if p.X509 == nil {
		return nil
	}
	c := *p.X509 // the caller's props stay as given
	x := &c
	p.X509 = x
	if x.Domain == "" || x.Certificate == nil && x.CertificateARN == "" {
		return fmt.Errorf("hub: X509 needs a Domain and a Certificate or CertificateARN")
	}
	if h := x.ClientCertHeader; h != "" && strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
		return fmt.Errorf("hub: X509.ClientCertHeader %q must be letters, digits and '-'", h)
	}
	if x.Concurrency == 0 {
		x.Concurrency = p.Concurrency.Ingress
	}
	if x.Concurrency < Unreserved {
		return fmt.Errorf("hub: X509.Concurrency %d must be positive or Unreserved", x.Concurrency)
	}
	return nil
}

// x509 builds the front door when Props.X509 is set.
func (h *Hub) x509() {
	x := h.Props.X509
	if x == nil {
		return
	}
	p := h.Props
	scope := constructs.NewConstruct(h.Construct, jsii.String("X509"))
	cert := x.Certificate
	if cert == nil {
		cert = awscertificatemanager.Certificate_FromCertificateArn(scope, jsii.String("Certificate"), jsii.String(x.CertificateARN))
	}
	vpc := x.VPC
	if vpc == nil {
		flowLogs := awslogs.NewLogGroup(scope, jsii.String("FlowLogs"), &awslogs.LogGroupProps{Retention: p.LogRetention, RemovalPolicy: p.RemovalPolicy})
		vpc = awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
			MaxAzs:      jsii.Number(2),
			NatGateways: jsii.Number(0),
			SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
				{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			},
			// No custom resource (a function with a managed policy) to
			// strip the default security group: nothing uses it.
			RestrictDefaultSecurityGroup: jsii.Bool(false),
			// Rejected traffic only: what explains a refused connection,
			// at a fraction of logging every flow.
			FlowLogs: &map[string]*awsec2.FlowLogOptions{"Rejected": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_REJECT,
			}},
		})
	}

	h.X509Function = h.mtlsFunction(scope)
	logs := awss3.NewBucket(scope, jsii.String("AccessLogs"), &awss3.BucketProps{
		// ALB access logs are delivered with SSE-S3 only.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		// Kept when the stack goes, even a throwaway one: the logs are a
		// record of who connected (and emptying a bucket on deletion takes
		// a custom-resource function).
		RemovalPolicy:  awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(jsii.Number(accessLogDays))}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("This bucket receives the load balancer's access logs; logging access to the log bucket itself would log the log delivery."),
	}}, jsii.Bool(true))

	sg := awsec2.NewSecurityGroup(scope, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: vpc, Description: jsii.String("devicehub mTLS front door: HTTPS from devices"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from devices anywhere"), jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(sg, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-EC23"),
		Reason: jsii.String("Devices connect from anywhere on the internet, as to IoT Hub; every request is authenticated by its client certificate."),
	}}, jsii.Bool(false))

	lb := awselasticloadbalancingv2.NewApplicationLoadBalancer(scope, jsii.String("LoadBalancer"), &awselasticloadbalancingv2.ApplicationLoadBalancerProps{
		Vpc: vpc, InternetFacing: jsii.Bool(true), SecurityGroup: sg,
		VpcSubnets:              &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		DropInvalidHeaderFields: jsii.Bool(true),
		DeletionProtection:      jsii.Bool(p.RemovalPolicy != awscdk.RemovalPolicy_DESTROY),
	})
	lb.LogAccessLogs(logs, jsii.String("alb"))
	h.LoadBalancer = lb

	target := awselasticloadbalancingv2.NewApplicationTargetGroup(scope, jsii.String("Target"), &awselasticloadbalancingv2.ApplicationTargetGroupProps{
		TargetType: awselasticloadbalancingv2.TargetType_LAMBDA,
		Targets:    &[]awselasticloadbalancingv2.IApplicationLoadBalancerTarget{awselasticloadbalancingv2targets.NewLambdaTarget(h.X509Function)},
		// Every value of a repeated header reaches the function, which
		// refuses a repeated certificate header instead of picking one.
		MultiValueHeadersEnabled: jsii.Bool(true),
	})
	listener := lb.AddListener(jsii.String("Https"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
		Port: jsii.Number(443), Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTPS,
		Certificates: &[]awselasticloadbalancingv2.IListenerCertificate{awselasticloadbalancingv2.ListenerCertificate_FromCertificateManager(cert)},
		SslPolicy:    awselasticloadbalancingv2.SslPolicy_RECOMMENDED_TLS,
		MutualAuthentication: &awselasticloadbalancingv2.MutualAuthentication{
			MutualAuthenticationMode: awselasticloadbalancingv2.MutualAuthenticationMode_PASS_THROUGH,
		},
		DefaultTargetGroups: &[]awselasticloadbalancingv2.IApplicationTargetGroup{target},
		Open:                jsii.Bool(false), // the security group above opens 443
	})
	if x.ClientCertHeader != "" {
		listener.Node().DefaultChild().(awselasticloadbalancingv2.CfnListener).AddPropertyOverride(jsii.String("ListenerAttributes"), []map[string]string{{
			"Key": "routing.http.request.x_amzn_mtls_clientcert.header_name", "Value": x.ClientCertHeader,
		}})
	}
	h.X509Target = lb.LoadBalancerDnsName()
}

// mtlsFunction is the function behind the load balancer: the ingress
// bootstrap in its ALB mode, with the ingress function's grants.
func (h *Hub) mtlsFunction(scope constructs.Construct) awslambda.Function {
	x := h.Props.X509
	env := h.environment(Ingress)
	env[schema.EnvHubHost] = h.HubHost
	env[schema.EnvFrontDoor] = jsii.String(schema.FrontDoorALB)
	if x.ClientCertHeader != "" {
		env[schema.EnvClientCertHeader] = jsii.String(x.ClientCertHeader)
	}
	fn := h.newFunction(scope, "Function", IngressMTLS, Ingress,
		"devicehub device routes for X.509 devices, behind the mutual-TLS load balancer", timeouts[Ingress], env, x.Concurrency)
	// The ingress function's grants, and no more; a test holds the two
	// roles' policies equal.
	h.deviceGrants(fn.Role())
	return fn
}

// accessLogDays is how long the load balancer's access logs are kept.
const accessLogDays = 90
