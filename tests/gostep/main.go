// Command gostep drives a CA through smallstep's own Go client library
// (github.com/smallstep/certificates/ca, as Debian packages it: step-ca 0.19.0),
// doing what `step ca certificate`, `step ca renew` and `step ca revoke` do.
// tests/test_go_client.py builds it and runs it against a real Plica.
//
// Every step prints one JSON line on stdout:
//
//	{"step": "...", "ok": true|false, "expect": "ok"|"error", "status": <HTTP status of an API error>, "error": "...", ...}
//
// The process exits 0 when every step ended as expected, 1 otherwise.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smallstep/certificates/api"
	"github.com/smallstep/certificates/ca"
	"go.step.sm/cli-utils/token"
	"go.step.sm/cli-utils/token/provision"
	"go.step.sm/crypto/jose"
	"go.step.sm/crypto/randutil"
)

type statusCoder interface{ StatusCode() int }

var failed bool

// emit prints one result line. expectErr says whether the step is meant to fail.
func emit(step string, expectErr bool, err error, fields map[string]interface{}) {
	line := map[string]interface{}{"step": step, "ok": err == nil, "expect": "ok"}
	if expectErr {
		line["expect"] = "error"
	}
	for k, v := range fields {
		line[k] = v
	}
	if err != nil {
		line["error"] = err.Error()
		if sc, ok := err.(statusCoder); ok {
			line["status"] = sc.StatusCode()
		}
	}
	if (err != nil) != expectErr {
		failed = true
	}
	b, _ := json.Marshal(line)
	fmt.Println(string(b))
}

// fatal reports a step that failed unexpectedly and stops: later steps need its result.
func fatal(step string, err error) {
	emit(step, false, err, nil)
	os.Exit(1)
}

func writePEM(path string, blocks ...*pem.Block) error {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return os.WriteFile(path, out, 0o600)
}

func writeChain(path string, sign *api.SignResponse) error {
	var blocks []*pem.Block
	for _, c := range sign.CertChainPEM {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return writePEM(path, blocks...)
}

func spkiSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

func certFields(sign *api.SignResponse) map[string]interface{} {
	leaf := sign.ServerPEM.Certificate
	f := map[string]interface{}{
		"serial":      leaf.SerialNumber.String(),
		"subject":     leaf.Subject.CommonName,
		"dns":         leaf.DNSNames,
		"not_after":   leaf.NotAfter.UTC().Format(time.RFC3339),
		"spki_sha256": spkiSHA256(leaf),
		"chain_len":   len(sign.CertChainPEM),
		// "ca" is the first certificate after the leaf in "certChain" (step-ca 0.19 sends both).
		"ca_is_chain1": len(sign.CertChainPEM) > 1 && sign.CaPEM.Certificate != nil &&
			sign.CaPEM.Certificate.Equal(sign.CertChainPEM[1].Certificate),
		"leaf_is_chain0": len(sign.CertChainPEM) > 0 && leaf.Equal(sign.CertChainPEM[0].Certificate),
	}
	return f
}

// revokeToken is the token `step ca revoke <serial>` makes for a JWK provisioner: the one
// ca.Provisioner.Token makes, but for the revoke audience and with the serial as subject. The
// library's Provisioner keeps its key private, so the key is fetched and decrypted here the same
// way ca.NewProvisioner does (GET /provisioners/{kid}/encrypted-key, PBES2 with the password).
func revokeToken(client *ca.Client, caURL *url.URL, name, kid, fingerprint string, password []byte, serial string) (string, error) {
	resp, err := client.ProvisionerKey(kid)
	if err != nil {
		return "", err
	}
	enc, err := jose.ParseEncrypted(resp.Key)
	if err != nil {
		return "", err
	}
	data, err := enc.Decrypt(password)
	if err != nil {
		return "", err
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return "", err
	}
	jti, err := randutil.Hex(64)
	if err != nil {
		return "", err
	}
	now := time.Now()
	tok, err := provision.New(serial,
		token.WithJWTID(jti),
		token.WithKid(jwk.KeyID),
		token.WithIssuer(name),
		token.WithAudience(caURL.ResolveReference(&url.URL{Path: "/1.0/revoke"}).String()),
		token.WithValidity(now, now.Add(5*time.Minute)),
		token.WithSHA(fingerprint),
	)
	if err != nil {
		return "", err
	}
	return tok.SignedString(jwk.Algorithm, jwk.Key)
}

// fileTransport is what `step ca renew crt key` builds: the certificate and key read from disk,
// the CA's root from the root file.
func fileTransport(rootFile, crtFile, keyFile string) (http.RoundTripper, error) {
	cert, err := tls.LoadX509KeyPair(crtFile, keyFile)
	if err != nil {
		return nil, err
	}
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("no certificate in %s", rootFile)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
	}}, nil
}

func main() {
	caURLFlag := flag.String("ca-url", "", "the CA's URL")
	rootFile := flag.String("root", "", "the CA's root certificate (PEM)")
	provName := flag.String("provisioner", "", "JWK provisioner name")
	provKid := flag.String("kid", "", "JWK provisioner key id")
	passwordFile := flag.String("password-file", "", "file holding the provisioner password")
	subject := flag.String("subject", "", "subject (CN) of the certificate")
	sansFlag := flag.String("sans", "", "comma-separated SANs (default: the subject)")
	outDir := flag.String("out", "", "output directory")
	flag.Parse()
	if *caURLFlag == "" || *rootFile == "" || *provName == "" || *passwordFile == "" || *subject == "" || *outDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	caURL, err := url.Parse(*caURLFlag)
	if err != nil {
		fatal("args", err)
	}
	var sans []string
	if *sansFlag != "" {
		sans = strings.Split(*sansFlag, ",")
	}
	pw, err := os.ReadFile(*passwordFile)
	if err != nil {
		fatal("args", err)
	}
	password := []byte(strings.TrimRight(string(pw), "\r\n"))

	client, err := ca.NewClient(*caURLFlag, ca.WithRootFile(*rootFile))
	if err != nil {
		fatal("client", err)
	}

	// The read-only API.
	health, err := client.Health()
	if err != nil {
		fatal("health", err)
	}
	emit("health", false, nil, map[string]interface{}{"health": health.Status})

	version, err := client.Version()
	if err != nil {
		fatal("version", err)
	}
	emit("version", false, nil, map[string]interface{}{
		"version": version.Version, "requireClientAuthentication": version.RequireClientAuthentication,
	})

	roots, err := client.Roots()
	if err != nil {
		fatal("roots", err)
	}
	var rootFPs []string
	for _, c := range roots.Certificates {
		sum := sha256.Sum256(c.Raw)
		rootFPs = append(rootFPs, hex.EncodeToString(sum[:]))
	}
	emit("roots", false, nil, map[string]interface{}{"fingerprints": rootFPs})

	fed, err := client.Federation()
	if err != nil {
		fatal("federation", err)
	}
	emit("federation", false, nil, map[string]interface{}{"count": len(fed.Certificates)})

	fp, err := client.RootFingerprint()
	if err != nil {
		fatal("root_fingerprint", err)
	}
	if len(rootFPs) > 0 {
		root, err := client.Root(fp)
		if err != nil {
			fatal("root", err)
		}
		emit("root", false, nil, map[string]interface{}{"fingerprint": fp, "matches": root.RootPEM.Certificate != nil})
	}

	provs, err := client.Provisioners()
	if err != nil {
		fatal("provisioners", err)
	}
	var names []string
	for _, p := range provs.Provisioners {
		names = append(names, fmt.Sprintf("%s:%s", p.GetType(), p.GetName()))
	}
	emit("provisioners", false, nil, map[string]interface{}{"provisioners": names, "nextCursor": provs.NextCursor})

	// step ca certificate: provisioner key from the CA, token, CSR, /sign.
	p, err := ca.NewProvisioner(*provName, *provKid, *caURLFlag, password, ca.WithRootFile(*rootFile))
	if err != nil {
		fatal("provisioner", err)
	}
	emit("provisioner", false, nil, map[string]interface{}{"name": p.Name(), "kid": p.Kid()})

	ott, err := p.Token(*subject, sans...)
	if err != nil {
		fatal("token", err)
	}
	req, pk, err := ca.CreateSignRequest(ott)
	if err != nil {
		fatal("csr", err)
	}
	sign, err := client.Sign(req)
	if err != nil {
		fatal("sign", err)
	}
	crtPath, keyPath := filepath.Join(*outDir, "cert.crt"), filepath.Join(*outDir, "cert.key")
	keyDER, err := x509.MarshalECPrivateKey(pk.(*ecdsa.PrivateKey))
	if err != nil {
		fatal("sign", err)
	}
	if err := writeChain(crtPath, sign); err != nil {
		fatal("sign", err)
	}
	if err := writePEM(keyPath, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}); err != nil {
		fatal("sign", err)
	}
	fields := certFields(sign)
	fields["crt"], fields["key"] = crtPath, keyPath
	fields["tls_verified"] = sign.TLS != nil && len(sign.TLS.VerifiedChains) > 0
	if root, err := ca.RootCertificate(sign); err == nil {
		sum := sha256.Sum256(root.Raw)
		fields["tls_root"] = hex.EncodeToString(sum[:])
	}
	emit("sign", false, nil, fields)

	// A token is single use.
	_, err = client.Sign(req)
	emit("sign_replay", true, err, nil)

	// step ca renew, over mTLS, with the transport the library builds from the sign response.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	renewClient, err := ca.NewClient(*caURLFlag, ca.WithRootFile(*rootFile))
	if err != nil {
		fatal("renew", err)
	}
	tr, err := renewClient.Transport(ctx, sign, pk)
	if err != nil {
		fatal("renew", err)
	}
	renewed, err := renewClient.Renew(tr)
	if err != nil {
		fatal("renew", err)
	}
	renewedPath := filepath.Join(*outDir, "renewed.crt")
	if err := writeChain(renewedPath, renewed); err != nil {
		fatal("renew", err)
	}
	fields = certFields(renewed)
	fields["crt"] = renewedPath
	emit("renew", false, nil, fields)
	cancel()

	// step ca renew of the renewed certificate from the files on disk (its key is the same one).
	tr2, err := fileTransport(*rootFile, renewedPath, keyPath)
	if err != nil {
		fatal("renew_files", err)
	}
	renewed2, err := client.Renew(tr2)
	if err != nil {
		fatal("renew_files", err)
	}
	renewed2Path := filepath.Join(*outDir, "renewed2.crt")
	if err := writeChain(renewed2Path, renewed2); err != nil {
		fatal("renew_files", err)
	}
	fields = certFields(renewed2)
	fields["crt"] = renewed2Path
	emit("renew_files", false, nil, fields)

	// step ca revoke <serial> of the renewed certificate (the first renewal).
	serial := renewed.ServerPEM.Certificate.SerialNumber.String()
	// A sign token (audience /1.0/sign) must not revoke.
	signOtt, err := p.Token(serial)
	if err != nil {
		fatal("revoke_with_sign_token", err)
	}
	_, err = client.Revoke(&api.RevokeRequest{Serial: serial, OTT: signOtt, ReasonCode: 4, Reason: "gostep", Passive: true}, nil)
	emit("revoke_with_sign_token", true, err, map[string]interface{}{"serial": serial})

	revOtt, err := revokeToken(client, caURL, *provName, p.Kid(), fp, password, serial)
	if err != nil {
		fatal("revoke_token", err)
	}
	rev, err := client.Revoke(&api.RevokeRequest{
		Serial: serial, OTT: revOtt, ReasonCode: 4, Reason: "superseded by gostep", Passive: true,
	}, nil)
	f := map[string]interface{}{"serial": serial}
	if rev != nil {
		f["status_field"] = rev.Status
	}
	emit("revoke", false, err, f)

	// Renewing the revoked certificate must now fail (401) ...
	tr3, err := fileTransport(*rootFile, renewedPath, keyPath)
	if err != nil {
		fatal("renew_revoked", err)
	}
	_, err = client.Renew(tr3)
	emit("renew_revoked", true, err, map[string]interface{}{"serial": serial})

	// ... and revoking it again is refused (400 already revoked).
	revOtt2, err := revokeToken(client, caURL, *provName, p.Kid(), fp, password, serial)
	if err != nil {
		fatal("revoke_again", err)
	}
	_, err = client.Revoke(&api.RevokeRequest{Serial: serial, OTT: revOtt2, ReasonCode: 4, Passive: true}, nil)
	emit("revoke_again", true, err, map[string]interface{}{"serial": serial})

	// The certificates that were not revoked still renew.
	tr4, err := fileTransport(*rootFile, renewed2Path, keyPath)
	if err != nil {
		fatal("renew_unrevoked", err)
	}
	renewed3, err := client.Renew(tr4)
	f = map[string]interface{}{}
	if err == nil {
		f = certFields(renewed3)
	}
	emit("renew_unrevoked", false, err, f)

	if failed {
		os.Exit(1)
	}
}
