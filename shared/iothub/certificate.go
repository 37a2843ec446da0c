package iothub

// CA certificates, in the shape of IoT Hub's certificate resource (its
// management API's CertificateDescription): a certificate authority that
// certificateAuthority devices' certificates chain to, verified by proof of
// possession before the hub trusts it.

// CertificateType is the type every certificate resource carries.
const CertificateType = "Microsoft.Devices/IotHubs/Certificates"

// Certificate is one CA certificate registered with the hub.
type Certificate struct {
	Name       string                `json:"name"`
	ETag       string                `json:"etag"`
	Type       string                `json:"type"`
	Properties CertificateProperties `json:"properties"`
}

// CertificateProperties describe a registered CA certificate. Times are
// written as HTTP dates ("Fri, 27 Nov 2026 12:07:00 GMT"), as IoT Hub writes
// them.
type CertificateProperties struct {
	Subject    string `json:"subject,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"` // SHA-1 of the DER, upper-case hex
	IsVerified bool   `json:"isVerified"`
	Created    string `json:"created,omitempty"`
	Updated    string `json:"updated,omitempty"`
	// Certificate is the PEM; on upload, the certificate to register.
	Certificate string `json:"certificate,omitempty"`
	// VerificationCode is set only in the answer to generateVerificationCode:
	// the subject CN the proof-of-possession certificate must carry.
	VerificationCode string `json:"verificationCode,omitempty"`
}

// CertificateList answers a list of CA certificates.
type CertificateList struct {
	Value []Certificate `json:"value"`
}

// CertificateVerification is the body of a verify request: the PEM of a
// certificate signed by the CA's key whose subject CN is the verification code.
type CertificateVerification struct {
	Certificate string `json:"certificate"`
}
