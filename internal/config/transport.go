package config

// TemporalTLS is how every role and the CLI reach a secured Temporal
// frontend (docs/deployment.md#secure-connections). The TEMPORAL_* names
// are the temporal CLI's own, accepted as aliases so an operator's
// existing environment works.
type TemporalTLS struct {
	TemporalTLS        bool   `name:"temporal-tls" env:"ACTIVITY_TEMPORAL_TLS,TEMPORAL_TLS" help:"Use TLS to Temporal with the system's CA roots (implied by any other TEMPORAL_TLS setting and by an API key)."`
	TemporalTLSCA      string `name:"temporal-tls-ca" env:"ACTIVITY_TEMPORAL_TLS_CA,TEMPORAL_TLS_SERVER_CA_CERT_PATH" help:"PEM file of the CA that signed the Temporal frontend's certificate (default: the system roots)." placeholder:"FILE"`
	TemporalTLSCert    string `name:"temporal-tls-cert" env:"ACTIVITY_TEMPORAL_TLS_CERT,TEMPORAL_TLS_CLIENT_CERT_PATH" help:"PEM client certificate for mTLS; re-read from disk when it changes." placeholder:"FILE"`
	TemporalTLSKey     string `name:"temporal-tls-key" env:"ACTIVITY_TEMPORAL_TLS_KEY,TEMPORAL_TLS_CLIENT_KEY_PATH" help:"PEM private key of the client certificate." placeholder:"FILE"`
	TemporalServerName string `name:"temporal-tls-server-name" env:"ACTIVITY_TEMPORAL_TLS_SERVER_NAME,TEMPORAL_TLS_SERVER_NAME" help:"Name to verify the frontend's certificate against (default: the host of ACTIVITY_TEMPORAL_ADDRESS)." placeholder:"NAME"`
	TemporalAPIKey     string `name:"temporal-api-key" env:"ACTIVITY_TEMPORAL_API_KEY,TEMPORAL_API_KEY" help:"API key for Temporal Cloud (sent as a bearer token; turns TLS on). Prefer the variable: a flag shows in ps." placeholder:"KEY"`
}

// NATSAuth is how every role reaches a secured NATS
// (docs/deployment.md#secure-connections). The names follow the nats CLI's
// context fields; NATS_* are accepted as aliases.
type NATSAuth struct {
	NATSCreds       string `name:"nats-creds" env:"ACTIVITY_NATS_CREDS,NATS_CREDS" help:"NATS .creds file (user JWT and NKey seed)." placeholder:"FILE"`
	NATSNKey        string `name:"nats-nkey" env:"ACTIVITY_NATS_NKEY,NATS_NKEY" help:"File holding a NATS user NKey seed." placeholder:"FILE"`
	NATSUser        string `name:"nats-user" env:"ACTIVITY_NATS_USER,NATS_USER" help:"NATS user name (with ACTIVITY_NATS_PASSWORD)." placeholder:"USER"`
	NATSPassword    string `name:"nats-password" env:"ACTIVITY_NATS_PASSWORD,NATS_PASSWORD" help:"NATS password." placeholder:"PASSWORD"`
	NATSToken       string `name:"nats-token" env:"ACTIVITY_NATS_TOKEN,NATS_TOKEN" help:"NATS authentication token." placeholder:"TOKEN"`
	NATSCA          string `name:"nats-ca" env:"ACTIVITY_NATS_CA,NATS_CA" help:"PEM file of the CA that signed the NATS servers' certificates (turns TLS on)." placeholder:"FILE"`
	NATSCert        string `name:"nats-cert" env:"ACTIVITY_NATS_CERT,NATS_CERT" help:"PEM client certificate for NATS mTLS." placeholder:"FILE"`
	NATSKey         string `name:"nats-key" env:"ACTIVITY_NATS_KEY,NATS_KEY" help:"PEM private key of the NATS client certificate." placeholder:"FILE"`
	NATSJSDomain    string `name:"nats-js-domain" env:"ACTIVITY_NATS_JS_DOMAIN,NATS_JS_DOMAIN" help:"JetStream domain of the stream (leaf nodes, hubs)." placeholder:"DOMAIN"`
	NATSJSAPIPrefix string `name:"nats-js-api-prefix" env:"ACTIVITY_NATS_JS_API_PREFIX,NATS_JS_API_PREFIX" help:"JetStream API prefix, for a stream imported from another account." placeholder:"PREFIX"`
}

// Transport is the production default for plaintext
// (docs/deployment.md#secure-connections).
type Transport struct {
	AllowPlaintext bool `name:"allow-plaintext" env:"ACTIVITY_ALLOW_PLAINTEXT" help:"Let serve talk to a non-loopback Temporal or NATS without TLS. Off by default: set it only on a network you trust."`
}
